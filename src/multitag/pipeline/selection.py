"""Choosing the model on held-out rows (`--model auto`: the network against binary-relevance
LinearSVC and logistic regression), and fitting a linear model on the network's splits.

Every candidate is scored on the rows the network held out (its cross-fitting folds or its
validation split): each linear model is fitted on the rows the network trained on and scored on
the rows it did not, with the decision rule chosen and scored by threshold cross-validation
(multitag.decision.selection). A linear winner is refitted on every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from multitag.decision.selection import RuleChoice, best_rule
from multitag.options import AUTO, TrainOptions


@dataclass
class Candidate:
    """A model, its tuned decision rule with its held-out objective (higher is better).
    `build` makes the final module, so only the winner is refitted."""

    name: str
    build: Callable[[], Any]
    choice: RuleChoice
    held_out: tuple[np.ndarray, np.ndarray] | None = None  # labels, probabilities

    @property
    def score(self) -> float:
        return self.choice.score


def decide(options: TrainOptions, Y: np.ndarray, proba: np.ndarray) -> RuleChoice:
    """The decision rule of `options` chosen and tuned on held-out (Y, proba)."""
    k = None if options.top_k == AUTO else options.top_k
    threshold = 0.5 if options.threshold == AUTO else options.threshold
    return best_rule(options.decision, options.objective, Y, proba, options.seed,
                     threshold=threshold, k=k)


def linear_candidate(name: str, X: Any, Y: np.ndarray,
                     splits: list[tuple[np.ndarray, np.ndarray]],
                     options: TrainOptions) -> Candidate:
    """Linear model `name` scored on the held-out rows of `splits`; `build()` refits it on
    every row."""
    from multitag.models.inference import predict_scores
    from multitag.models.linear import fit_linear

    total, counts = np.zeros(Y.shape), np.zeros(Y.shape[0])
    for train_rows, valid_rows in splits:
        if len(valid_rows):
            network = fit_linear(name, X[train_rows], Y[train_rows], options.seed)
            total[valid_rows] += predict_scores(network, X[valid_rows])
            counts[valid_rows] += 1
    held_out = counts > 0
    proba = total[held_out] / counts[held_out, None]
    choice = decide(options, Y[held_out], proba)
    return Candidate(name, lambda: fit_linear(name, X, Y, options.seed), choice,
                     (Y[held_out], proba))


def choose(candidates: list[Candidate], objective: str) -> tuple[Candidate, str]:
    """The best candidate (ties go to the earlier one) and a one-line account of the choice."""
    best = max(candidates, key=lambda c: -np.inf if np.isnan(c.score) else c.score)
    shown = ", ".join(f"{c.name} {abs(c.score):.4f}" for c in candidates)
    return best, (f"--model auto: held-out {objective} (threshold cross-validation) {shown}; "
                  f"kept {best.name}")
