"""Several networks whose per-label probabilities are averaged, and how they are trained.

Cross-fitted training (the default for `ensemble > 1`): the training rows are cut into N
label-stratified folds; network i trains on the other folds and early-stops on fold i. Every
training row then has an out-of-fold probability from a network that never saw it, so the
decision rule is tuned on *all* training rows instead of a small validation slice, and no row
is wasted on validation only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from multitag.models.mlp import MLP


class Ensemble(nn.Module):
    """N `MLP`s with the same inputs and labels; `forward` returns the logit of the mean
    probability, so `sigmoid(forward(x))` is the averaged probability."""

    def __init__(self, members: Sequence[MLP]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one network")
        self.members = nn.ModuleList(members)

    @property
    def output(self) -> nn.Linear:
        """The first member's output layer (its `out_features` is the label count)."""
        return self.members[0].output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.probabilities(x), eps=1e-7)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The members' sigmoid outputs, averaged."""
        return torch.stack([torch.sigmoid(m(x)) for m in self.members]).mean(0)


@dataclass
class MemberFit:
    """What training one member produced: the trained network, its training result, and its
    probabilities for the rows it did not train on (out-of-fold), with their indices."""

    network: MLP
    result: object
    held_out_rows: np.ndarray
    held_out_proba: np.ndarray | None


def member_splits(Y: np.ndarray, n_members: int, folds: bool, validation_split: float,
                  strategy: str, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, validation rows) per member: the N cross-fitting folds, or one shared
    validation split of `validation_split` (`strategy`: stratified, random or tail)."""
    if n_members > 1 and folds:
        fold = fold_assignment(Y, n_members, seed)
        return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i))
                for i in range(n_members)]
    return [validation_rows(Y, validation_split, strategy, seed)] * n_members


def validation_rows(Y: np.ndarray, fraction: float, strategy: str, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) with about `fraction` of the rows for validation
    (none when that would leave either side empty)."""
    n_rows = Y.shape[0]
    n_valid = int(n_rows * fraction)
    if n_valid < 1 or n_rows - n_valid < 1:
        return np.arange(n_rows), np.arange(0)
    if strategy == "tail":
        return np.arange(n_rows - n_valid), np.arange(n_rows - n_valid, n_rows)
    from multitag.data.splits import assign

    share = n_valid / n_rows
    part = assign(Y, [1 - share, share], method=strategy, seed=seed)
    return np.flatnonzero(part == 0), np.flatnonzero(part == 1)


def fold_assignment(Y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index 0..n_folds-1 per row, stratified over the labels (iterative stratification)."""
    from multitag.data.splits import assign

    return assign(Y, [1.0 / n_folds] * n_folds, method="stratified", seed=seed)


def out_of_fold_proba(fits: Sequence[MemberFit], n_rows: int, n_labels: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities of every held-out row, averaged where a row was held out by
    several members, and the mask of rows that have one."""
    total = np.zeros((n_rows, n_labels))
    counts = np.zeros(n_rows)
    for fit in fits:
        if fit.held_out_proba is not None:
            total[fit.held_out_rows] += fit.held_out_proba
            counts[fit.held_out_rows] += 1
    seen = counts > 0
    total[seen] /= counts[seen, None]
    return total, seen


def train_members(n_members: int, train_one: Callable[[int], MemberFit],
                  n_jobs: int = 1) -> list[MemberFit]:
    """Train members 0..n-1 with `train_one(i)`, in worker processes when `n_jobs > 1`."""
    if n_jobs <= 1 or n_members == 1:
        return [train_one(i) for i in range(n_members)]
    from multitag.training.parallel import run_in_processes

    return run_in_processes(train_one, range(n_members), n_jobs)
