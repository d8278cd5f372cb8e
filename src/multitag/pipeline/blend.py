"""Blending the networks with a max-margin linear model (`--blend linear`).

The linear model (br-svm: the L2 squared-hinge SVM, `multitag.models.linear`) is fitted on the
same training rows as each network, so every held-out row also has an out-of-fold margin. Its
margins are calibrated to probabilities by one logistic curve fitted on those held-out margins
(Platt scaling, shared by all labels), and the blend `w * p_network + (1 - w) * p_linear` takes
the weight `w` (a grid from 0 to 1) whose decision rule scores best under threshold
cross-validation on the held-out rows: a weight is kept only when it holds on rows the rule was
not tuned on, and `w = 1` (the networks alone) when the linear model does not help. The saved
model is one ensemble: the networks and the calibrated linear model, with those weights.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from multitag.bundle.network import sigmoid
from multitag.options import TrainOptions

WEIGHT_GRID = np.linspace(0.0, 1.0, 11)
LINEAR_MODEL = "br-svm"
# L-BFGS iterations of the blended linear model, in float32: within 0.001 micro-F1 of the
# converged SVM on medical (measured) at a quarter of the time.
LINEAR_ITERATIONS = 100


def fit_fold_linear(X: Any, Y: np.ndarray, train_rows: np.ndarray,
                    valid_rows: np.ndarray) -> np.ndarray | None:
    """The linear model fitted on `train_rows`: its margins on `valid_rows`."""
    from multitag.models.inference import predict_logits

    if not len(valid_rows):
        return None
    return predict_logits(fit_linear_full(X[train_rows], Y[train_rows]), X[valid_rows])


def blend_linear(networks: Any, X: Any, Y: np.ndarray, held_margins: np.ndarray,
                 options: TrainOptions) -> Any:
    """`networks` with the linear model blended in (or unchanged when its best weight is 0),
    a one-line account of the choice, and the decision rule tuned on the kept blend."""
    from multitag.pipeline.selection import decide

    scale, shift = calibration(held_margins, networks.Y_held)
    linear_held = sigmoid(scale * held_margins + shift)
    mixed = {float(w): w * networks.P_held + (1 - w) * linear_held for w in WEIGHT_GRID}
    choices = {w: decide(options, networks.Y_held, p) for w, p in mixed.items()}
    scores = {w: -np.inf if np.isnan(c.score) else c.score for w, c in choices.items()}
    weight = max(scores, key=lambda w: (scores[w], w))  # ties: more network
    account = (f"--blend linear: held-out {options.objective} network {abs(scores[1.0]):.4f}, "
               f"linear {abs(scores[0.0]):.4f}, blend {abs(scores[weight]):.4f} at network "
               f"weight {weight:.1f}")
    if weight == 1.0:
        return replace(networks, choice=choices[weight],
                       blend_account=account + " (the networks alone)")
    linear = _calibrated(fit_linear_full(X, Y), scale, shift)
    return replace(networks, module=_mixture(networks.module, linear, weight),
                   P_held=mixed[weight], choice=choices[weight], blend_account=account)


def fit_linear_full(X: Any, Y: np.ndarray) -> Any:
    from multitag.models.linear import fit_linear

    return fit_linear(LINEAR_MODEL, X, Y, max_iterations=LINEAR_ITERATIONS, precise=False)


def calibration(margins: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
    """(a, b) of the logistic curve sigmoid(a * margin + b) fitted to the held-out labels
    (Newton's method on the two parameters; a tiny ridge keeps separable data finite)."""
    m = np.asarray(margins, dtype=np.float64).ravel()
    y = np.asarray(Y, dtype=np.float64).ravel()
    design = np.column_stack([m, np.ones_like(m)])
    theta = np.array([1.0, 0.0])
    for _ in range(50):
        p = sigmoid(design @ theta)
        gradient = design.T @ (p - y) + 1e-6 * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    a, b = (float(v) for v in theta)
    return (a, b) if a > 0 and np.isfinite([a, b]).all() else (1.0, 0.0)


def _calibrated(network: Any, scale: float, shift: float) -> Any:
    """The linear network whose sigmoid is the calibrated probability (a, b folded in)."""
    import torch

    with torch.no_grad():
        constant = network.output.weight.abs().sum(dim=1) == 0
        pinned = network.output.bias[constant].clone()  # labels constant in training
        network.output.weight.mul_(scale)
        network.output.bias.mul_(scale).add_(shift)
        network.output.bias[constant] = pinned
    return network


def _mixture(module: Any, linear: Any, weight: float) -> Any:
    import torch

    from multitag.models.ensemble import Ensemble

    labels = linear.output.out_features
    if isinstance(module, Ensemble):
        members, network_weights = list(module.members), module.weights * weight
    else:
        members, network_weights = [module], torch.full((1, labels), weight)
    weights = torch.cat([network_weights, torch.full((1, labels), 1.0 - weight)])
    return Ensemble([*members, linear], weights)
