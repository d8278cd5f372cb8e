"""Choosing on held-out rows: the decision rule (`decision="auto"`) and the model
(`--model auto`: the network against binary-relevance LinearSVC and logistic regression).

Every candidate is scored on the rows the network held out (its cross-fitting folds or its
validation split): each linear model is fitted on the rows the network trained on and scored on
the rows it did not. A rule tuned on the very rows it is scored on flatters the rule with more
freedom (one threshold per label always beats one global threshold there), so candidates are
compared by *threshold cross-validation*: the held-out rows are cut into folds, the rule is tuned
on the other folds and applied to each, and the objective is computed over all of them. The
winner's rule is then tuned on every held-out row; a linear winner is refitted on every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CANDIDATES = ("mlp", "br-svm", "br-lr")
AUTO_RULES = ("global", "per_label")
THRESHOLD_FOLDS = 5


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
    from multitag.decision.rules import make_rule

    params = {"objective": objective} if decision in ("global", "per_label") else {}
    rule = make_rule(decision, **params)
    return rule if decision == "fixed" or not len(Y) else rule.fit(Y, proba)


def score(objective: str, Y: np.ndarray, predicted: np.ndarray) -> float:
    """The objective of 0/1 predictions, higher is better (Hamming loss negated)."""
    from multitag.decision.rules import objective_value

    value = objective_value(objective, Y.astype(np.uint8), predicted)
    return -value if objective == "hamming" else value


def cross_validated_score(decision: str, objective: str, Y: np.ndarray, proba: np.ndarray,
                          seed: int = 0) -> float:
    """`objective` of rule `decision` when each fold's thresholds are tuned on the others."""
    n_rows = len(Y)
    if n_rows < 2 * THRESHOLD_FOLDS:
        return score(objective, Y, fit_rule(decision, objective, Y, proba).predict(proba))
    fold = np.random.default_rng(seed).permutation(n_rows) % THRESHOLD_FOLDS
    predicted = np.zeros(Y.shape, dtype=np.uint8)
    for k in range(THRESHOLD_FOLDS):
        rest, this = fold != k, fold == k
        predicted[this] = fit_rule(decision, objective, Y[rest], proba[rest]).predict(proba[this])
    return score(objective, Y, predicted)


def best_rule(decision: str, objective: str, Y: np.ndarray, proba: np.ndarray,
              seed: int = 0) -> tuple[Any, float, str]:
    """The rule (tuned on all rows), its cross-validated score and a few words on the choice:
    with `decision="auto"` the better of one global threshold and one per label."""
    Y = Y.astype(np.uint8)
    options = AUTO_RULES if decision == "auto" else (decision,)
    scores = {d: cross_validated_score(d, objective, Y, proba, seed) if len(Y) else np.nan
              for d in options}
    chosen = max(options, key=lambda d: -np.inf if np.isnan(scores[d]) else scores[d])
    words = ", ".join(f"{d} {abs(v):.4f}" for d, v in scores.items())
    return fit_rule(chosen, objective, Y, proba), scores[chosen], words


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
    rule, value, _ = best_rule(decision, objective, Y[held_out], proba, seed)
    return Candidate(name, lambda: fit_linear(name, X, Y, seed), rule, float(value))


def network_candidate(estimator: Any) -> Candidate:
    """The trained network (or ensemble), its rule and the rule's cross-validated score."""
    return Candidate("mlp", estimator.module_, estimator.decision_rule_,
                     float(estimator.decision_score_))


def choose(candidates: list[Candidate], objective: str) -> tuple[Candidate, str]:
    """The best candidate (ties go to the earlier one) and a one-line account of the choice."""
    best = max(candidates, key=lambda c: -np.inf if np.isnan(c.score) else c.score)
    shown = ", ".join(f"{c.name} {abs(c.score):.4f}" for c in candidates)
    return best, (f"--model auto: held-out {objective} (threshold cross-validation) {shown}; "
                  f"kept {best.name}")
