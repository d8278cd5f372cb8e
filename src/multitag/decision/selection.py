"""Choosing and tuning a decision rule on held-out rows, and the early-stopping score.

A rule tuned on the very rows it is scored on flatters the rule with more freedom (one threshold
per label always beats one global threshold there), so rules (and, in `multitag.pipeline`,
models) are compared by *threshold cross-validation*: the held-out rows are cut into folds, the
rule is tuned on the other folds and applied to each, and the objective is computed over all of
them. The winner is then tuned on every held-out row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from multitag.decision.rules import AtLeastOne, DecisionRule, TopK, make_rule
from multitag.decision.tuning import objective_value

AUTO_RULES = ("global", "per_label")
THRESHOLD_FOLDS = 5
MAX_TUNED_K = 20


@dataclass(frozen=True)
class RuleChoice:
    """The tuned rule, its cross-validated objective (NaN when not tuned) and the scores of
    the rules it was chosen from, in words."""

    rule: DecisionRule
    score: float
    account: str = ""


def score(objective: str, Y: np.ndarray, predicted: np.ndarray) -> float:
    """The objective of 0/1 predictions, higher is better (Hamming loss negated)."""
    value = objective_value(objective, Y.astype(np.uint8), predicted)
    return -value if objective == "hamming" else value


def fit_rule(decision: str, objective: str, Y: np.ndarray, proba: np.ndarray, *,
             threshold: float = 0.5, k: int | None = None) -> DecisionRule:
    """Rule `decision` tuned on (Y, proba): thresholds for global/per_label, k for top_k when
    `k` is None; `at_least_one` on top of the better-tuned threshold rule; fixed at
    `threshold`."""
    if decision == "fixed":
        return make_rule("fixed", threshold=threshold)
    if decision == "top_k":
        return make_rule("top_k", k=k if k is not None else _best_k(objective, Y, proba))
    if decision == "at_least_one":
        return AtLeastOne(fit_rule("global", objective, Y, proba))
    return make_rule(decision, objective=objective).fit(Y, proba)


def _best_k(objective: str, Y: np.ndarray, proba: np.ndarray) -> int:
    """The k of the top-k rule that scores best on (Y, proba) (ties: the smaller k)."""
    n_labels = proba.shape[1]
    order = np.argsort(-proba, axis=1, kind="stable")
    predicted = np.zeros(proba.shape, dtype=np.uint8)
    rows = np.arange(len(proba))
    best, best_k = -np.inf, 1
    for k in range(1, min(n_labels, MAX_TUNED_K) + 1):
        predicted[rows, order[:, k - 1]] = 1
        value = score(objective, Y, predicted)
        if value > best + 1e-12:
            best, best_k = value, k
    return best_k


def cross_validated_predictions(decision: str, objective: str, Y: np.ndarray,
                                proba: np.ndarray, seed: int = 0,
                                **params: object) -> np.ndarray:
    """0/1 predictions of rule `decision` where each fold's rule is tuned on the other folds
    (an honest estimate: no row is decided by a rule tuned on it)."""
    n_rows = len(Y)
    if n_rows < 2 * THRESHOLD_FOLDS:
        return fit_rule(decision, objective, Y, proba, **params).predict(proba)
    fold = np.random.default_rng(seed).permutation(n_rows) % THRESHOLD_FOLDS
    predicted = np.zeros(Y.shape, dtype=np.uint8)
    for k in range(THRESHOLD_FOLDS):
        rest, this = fold != k, fold == k
        rule = fit_rule(decision, objective, Y[rest], proba[rest], **params)
        predicted[this] = rule.predict(proba[this])
    return predicted


def cross_validated_score(decision: str, objective: str, Y: np.ndarray, proba: np.ndarray,
                          seed: int = 0, **params: object) -> float:
    """`objective` of rule `decision` when each fold's rule is tuned on the other folds."""
    return score(objective, Y, cross_validated_predictions(decision, objective, Y, proba, seed,
                                                           **params))


def best_rule(decision: str, objective: str, Y: np.ndarray, proba: np.ndarray,
              seed: int = 0, *, threshold: float = 0.5, k: int | None = None) -> RuleChoice:
    """The rule (tuned on all rows) and its cross-validated score; `decision="auto"` keeps the
    better of one global threshold and one per label. Without held-out rows, or for a fixed
    rule, nothing is tuned."""
    if not len(Y) or decision == "fixed":
        return RuleChoice(make_rule("fixed", threshold=threshold), float("nan"))
    Y = Y.astype(np.uint8)
    options = AUTO_RULES if decision == "auto" else (decision,)
    params = {"threshold": threshold, "k": k}
    scores = {d: cross_validated_score(d, objective, Y, proba, seed, **params) for d in options}
    chosen = max(options, key=lambda d: scores[d])
    rule = fit_rule(chosen, objective, Y, proba, **params)
    words = ", ".join(f"{d} {abs(v):.4f}" for d, v in scores.items())
    if isinstance(rule, TopK) and k is None:
        words += f"; k={rule.k} tuned"
    return RuleChoice(rule, scores[chosen], words)


def objective_scorer(objective: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """score(Y, proba): `objective` at the best global threshold, higher is better (Hamming
    loss negated). Early stopping on it keeps training while the decisions still improve,
    long after the validation loss has turned up on small data."""

    def scorer(Y: np.ndarray, proba: np.ndarray) -> float:
        Y = Y.astype(np.uint8)
        predicted = make_rule("global", objective=objective).fit(Y, proba).predict(proba)
        return score(objective, Y, predicted)

    return scorer
