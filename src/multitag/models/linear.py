"""Binary-relevance linear models (one LinearSVC or LogisticRegression per label) stored as a
network without hidden layers, so they save, load, predict, serve and export like any network.

The network's logit for label j is `x @ coef_j + intercept_j`, i.e. the linear model's
decision function, and its probability `sigmoid(decision)` (for LinearSVC, the sigmoid of the
margin; for logistic regression, exactly its probability).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from multitag.models.mlp import MLP

LINEAR_MODELS = ("br-svm", "br-lr")
# Logit given to a label that is constant in the training rows (probability ~0.99995 or ~5e-5).
_CONSTANT_LOGIT = 10.0


def fit_linear(name: str, X: Any, Y: np.ndarray, seed: int = 0) -> MLP:
    """One linear classifier per label on (X, Y), as an `MLP` with `hidden=()`."""
    from sklearn.exceptions import ConvergenceWarning

    n_features, n_labels = X.shape[1], Y.shape[1]
    weights = np.zeros((n_labels, n_features))
    biases = np.zeros(n_labels)
    for j in range(n_labels):
        column = np.asarray(Y[:, j]).ravel()
        if column.min() == column.max():
            biases[j] = _CONSTANT_LOGIT if column[0] else -_CONSTANT_LOGIT
            continue
        with warnings.catch_warnings():  # liblinear's iteration cap is a known, harmless stop
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = _classifier(name, seed).fit(X, column)
        weights[j], biases[j] = np.ravel(model.coef_), float(np.ravel(model.intercept_)[0])
    network = MLP(n_features, n_labels, hidden=())
    with torch.no_grad():
        network.output.weight.copy_(torch.from_numpy(weights))
        network.output.bias.copy_(torch.from_numpy(biases))
    return network.eval()


def _classifier(name: str, seed: int) -> Any:
    if name == "br-svm":
        from sklearn.svm import LinearSVC

        return LinearSVC(random_state=seed)
    if name == "br-lr":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(random_state=seed)
    raise ValueError(f"unknown linear model {name!r}; expected one of {LINEAR_MODELS}")
