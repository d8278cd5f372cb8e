"""`--model auto`: the network against binary-relevance LinearSVC and logistic regression,
compared on the same held-out rows, keeping the best; and the linear models on their own.

Every candidate is scored on the rows the network held out (its cross-fitting folds or its
validation split): each linear model is fitted on the rows the network trained on and scored
on the rows it did not, with the decision rule tuned on those held-out scores, exactly as the
network's rule is. The winner is what gets saved; a linear winner is refitted on every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CANDIDATES = ("mlp", "br-svm", "br-lr")


@dataclass
class Candidate:
    """A model, its tuned decision rule and its held-out objective value (higher is better).
    `module` may be a function that builds the model, so only the winner is refitted."""

    name: str
    module: Any
    rule: Any
    score: float

    def final_module(self) -> Any:
        return self.module() if callable(self.module) and not hasattr(
            self.module, "state_dict") else self.module


def fit_rule(decision: str, objective: str, Y: np.ndarray, proba: np.ndarray) -> Any:
    """The decision rule of the options, tuned on (Y, proba) unless it is fixed."""
    from multitag.decision import make_rule

    params = {"objective": objective} if decision in ("global", "per_label") else {}
    rule = make_rule(decision, **params)
    return rule if decision == "fixed" or not len(Y) else rule.fit(Y, proba)


def score(objective: str, Y: np.ndarray, predicted: np.ndarray) -> float:
    """The objective of 0/1 predictions, higher is better (Hamming loss negated)."""
    from multitag.decision import objective_value

    value = objective_value(objective, Y.astype(np.uint8), predicted)
    return -value if objective == "hamming" else value


def linear_candidate(name: str, X: Any, Y: np.ndarray,
                     splits: list[tuple[np.ndarray, np.ndarray]], decision: str,
                     objective: str, seed: int) -> Candidate:
    """Linear model `name`: held-out scores on `splits`; `final_module()` refits it on every
    row."""
    from multitag.models.inference import predict_scores
    from multitag.models.linear import fit_linear

    total, counts = np.zeros(Y.shape), np.zeros(Y.shape[0])
    for train_rows, valid_rows in {(tuple(t), tuple(v)) for t, v in splits}:
        train_rows, valid_rows = np.asarray(train_rows, int), np.asarray(valid_rows, int)
        if len(valid_rows):
            network = fit_linear(name, X[train_rows], Y[train_rows], seed)
            total[valid_rows] += predict_scores(network, X[valid_rows])
            counts[valid_rows] += 1
    held_out = counts > 0
    proba = total[held_out] / counts[held_out, None]
    rule = fit_rule(decision, objective, Y[held_out], proba)
    value = score(objective, Y[held_out], rule.predict(proba)) if held_out.any() else np.nan
    return Candidate(name, lambda: fit_linear(name, X, Y, seed), rule, float(value))


def network_candidate(estimator: Any, Y: np.ndarray, objective: str) -> Candidate:
    """The trained network (or ensemble) with the score of its own held-out probabilities."""
    rows = estimator.held_out_
    value = score(objective, Y[rows], estimator.decision_rule_.predict(
        estimator.held_out_proba_)) if rows.any() else np.nan
    return Candidate("mlp", estimator.module_, estimator.decision_rule_, float(value))


def choose(candidates: list[Candidate], objective: str) -> tuple[Candidate, str]:
    """The best candidate (ties go to the earlier one) and a one-line account of the choice."""
    best = max(candidates, key=lambda c: -np.inf if np.isnan(c.score) else c.score)
    shown = ", ".join(f"{c.name} {abs(c.score):.4f}" for c in candidates)
    return best, f"--model auto: held-out {objective} {shown}; kept {best.name}"
