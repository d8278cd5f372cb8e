"""Binary-relevance linear models stored as a network without hidden layers, so they save, load,
predict, serve and export like any network.

`br-svm` is the L2-regularised squared-hinge SVM of scikit-learn's LinearSVC (C=1, intercept
penalised as liblinear's `intercept_scaling=1` does) and `br-lr` its L2 logistic regression
(C=1, intercept not penalised). Both objectives are separable over labels, so every label is
solved at once: one weight matrix, minimised with L-BFGS in torch over all rows and labels
with scipy's L-BFGS-B (sparse input stays sparse), which reaches the same optimum as fitting
one scikit-learn model per label, many times faster (bibtex's 159 labels: seconds against
about 3 minutes), and needs no torch. The network's logit for
label j is the model's decision function, its probability `sigmoid(decision)` (for the SVM the
sigmoid of the margin, for logistic regression exactly its probability).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from multitag.models.mlp import MLP

LINEAR_MODELS = ("br-svm", "br-lr")
# Logit given to a label that is constant in the training rows (probability ~0.99995 or ~5e-5).
CONSTANT_LOGIT = 10.0
MAX_ITERATIONS = 300
# Below this many (row, label) cells the objective is computed in float64.
_FLOAT64_CELLS = 5_000_000
# Below this many multiply-adds per objective call (X @ W), BLAS runs one thread: L-BFGS-B's
# own vector work and the small products gain nothing from more, and threads that wait for a
# busy core made scene's br-svm 3.7 s instead of 0.4 s on 2 loaded cores (measured).
ONE_THREAD_WORK = 500_000_000


def fit_linear(name: str, X: Any, Y: np.ndarray, seed: int = 0, *, C: float = 1.0,
               max_iterations: int = MAX_ITERATIONS, precise: bool = True) -> MLP:
    """Linear model `name` (br-svm or br-lr) for every label of (X, Y), as an `MLP` with
    `hidden=()`. `precise`: float64 arithmetic on problems up to 5M (row, label) cells (else
    float32, about 3x faster). Deterministic: `seed` is accepted for the common signature."""
    if name not in LINEAR_MODELS:
        raise ValueError(f"unknown linear model {name!r}; expected one of {LINEAR_MODELS}")
    Y = np.asarray(Y.toarray() if sp.issparse(Y) else Y, dtype=np.float64)
    n_features, n_labels = X.shape[1], Y.shape[1]
    weights, biases = np.zeros((n_labels, n_features)), np.zeros(n_labels)
    varying = np.flatnonzero(Y.min(axis=0) != Y.max(axis=0))
    constant = np.setdiff1d(np.arange(n_labels), varying)
    biases[constant] = np.where(Y[0, constant] > 0, CONSTANT_LOGIT, -CONSTANT_LOGIT) \
        if len(Y) else -CONSTANT_LOGIT
    if len(varying):
        with _blas_threads(X, len(varying)):
            W, b = _minimise(name, X, Y[:, varying], C, max_iterations, precise)
        weights[varying], biases[varying] = W, b
    network = MLP(n_features, n_labels, hidden=())
    with torch.no_grad():
        network.output.weight.copy_(torch.from_numpy(weights))
        network.output.bias.copy_(torch.from_numpy(biases))
    return network.eval()


def _blas_threads(X: Any, n_labels: int) -> Any:
    """One BLAS thread for a small problem (`ONE_THREAD_WORK`), else the library's own."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    cells = X.nnz if sp.issparse(X) else X.shape[0] * X.shape[1]
    small = cells * n_labels < ONE_THREAD_WORK
    return threadpool_limits(limits=1, user_api="blas") if small else nullcontext()


def _minimise(name: str, X: Any, Y: np.ndarray, C: float, max_iterations: int,
              precise: bool) -> tuple[np.ndarray, np.ndarray]:
    """W (features, labels) and b minimising the objective, with scipy's L-BFGS-B."""
    from scipy.optimize import minimize

    dtype = np.float64 if precise and Y.size <= _FLOAT64_CELLS else np.float32
    X = sp.csr_matrix(X, dtype=dtype) if sp.issparse(X) else np.asarray(X, dtype=dtype)
    signs = (2.0 * Y - 1.0).astype(dtype)
    n_features, n_labels = X.shape[1], Y.shape[1]
    svm = name == "br-svm"

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[:-n_labels].reshape(n_features, n_labels).astype(dtype, copy=False)
        b = theta[-n_labels:].astype(dtype, copy=False)
        z = signs * (X @ W + b)
        if svm:
            slack = np.maximum(1.0 - z, 0.0)
            loss, dz = float(np.square(slack, dtype=np.float64).sum()), -2.0 * slack
        else:
            loss = float(np.logaddexp(0.0, -z).sum(dtype=np.float64))
            dz = -0.5 * (1.0 - np.tanh(0.5 * z))  # -sigmoid(-z)
        dm = C * dz * signs
        grad_W = np.asarray(X.T @ dm, dtype=np.float64) + W
        grad_b = dm.sum(axis=0, dtype=np.float64) + (b if svm else 0.0)
        value = C * loss + 0.5 * float(np.square(W, dtype=np.float64).sum())
        if svm:
            value += 0.5 * float(np.square(b, dtype=np.float64).sum())
        return value, np.concatenate([grad_W.ravel(), np.asarray(grad_b).ravel()])

    start = np.zeros(n_features * n_labels + n_labels)
    found = minimize(objective, start, jac=True, method="L-BFGS-B",
                     options={"maxiter": max_iterations, "maxcor": 20, "gtol": 1e-6,
                              "ftol": 1e-12})
    theta = found.x
    return theta[:-n_labels].reshape(n_features, n_labels).T.copy(), theta[-n_labels:].copy()
