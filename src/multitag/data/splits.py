"""Train/validation/test splits, k-fold and iterative stratification for multi-label data.

Iterative stratification follows Sechidis, Tsoumakas & Vlahavas (2011), "On the stratification
of multi-label data": the label with the fewest unassigned examples is handled first and each
of its examples goes to the part that most lacks that label (ties: the part that most lacks
examples overall, then chance). One addition keeps rare labels on both sides where possible: a
part that wants some of a label but has none of it yet is served first. The per-example choice
is a small loop over the parts; the bookkeeping over labels is vectorised, so 100,000 rows x 100
labels take well under a second or two. Same seed, same split; parts never overlap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError

METHODS = ("stratified", "random")


@dataclass(frozen=True)
class Split:
    """Row indices of each named part (sorted, disjoint), and how they were drawn."""

    parts: dict[str, np.ndarray]
    method: str
    seed: int

    def apply(self, data: Dataset) -> dict[str, Dataset]:
        """The parts as Datasets named `<name>-<part>`."""
        base = data.name or "data"
        return {p: data.subset(idx, name=f"{base}-{p}") for p, idx in self.parts.items()}


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    arr = np.asarray(fractions, dtype=np.float64)
    if arr.ndim != 1 or len(arr) < 2 or not np.all(arr > 0) or not np.isfinite(arr).all():
        raise ConfigError(f"fractions must be two or more positive numbers; got {list(fractions)}")
    return arr / arr.sum()


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"`method` must be one of {', '.join(METHODS)}; got {method!r}")


def random_assignment(n: int, fractions: Sequence[float], seed: int = 0) -> np.ndarray:
    """Part number of every row: a shuffled cut with sizes as close to `fractions` as they go."""
    frac = _check_fractions(fractions)
    bounds = np.round(np.cumsum(frac) * n).astype(np.int64)
    parts = np.searchsorted(bounds, np.arange(n), side="right")
    return np.random.default_rng(seed).permutation(parts).astype(np.int64)


def iterative_stratification(
    Y: np.ndarray | sp.spmatrix, fractions: Sequence[float], seed: int = 0
) -> np.ndarray:
    """Part number of every row so that each label is spread over the parts like `fractions`."""
    frac = _check_fractions(fractions)
    Y = sp.csr_matrix(Y)
    _n, n_labels = Y.shape
    state = _StratState(Y, frac, seed)
    remaining = np.asarray(Y.sum(axis=0)).ravel().astype(np.float64)
    for _ in range(n_labels):
        live = np.flatnonzero(remaining > 0)
        if live.size == 0:
            break
        label = int(live[np.argmin(remaining[live])])
        rows = state.unassigned_rows(label)
        if rows.size:
            state.assign_label(label, rows)
            remaining -= np.asarray(Y[rows].sum(axis=0)).ravel()
        remaining[label] = 0
    state.assign_rest()
    return state.part


class _StratState:
    """Desired counts per label and part, desired sizes per part, and the assignment so far."""

    def __init__(self, Y: sp.csr_matrix, frac: np.ndarray, seed: int) -> None:
        self.Y = Y
        self.Yc = Y.tocsc()
        counts = np.asarray(Y.sum(axis=0)).ravel().astype(np.float64)
        self.wanted = np.outer(counts, frac)  # desired examples of label l in part k (fixed)
        self.desired = self.wanted.copy()  # still missing
        self.size = frac * Y.shape[0]
        self.part = np.full(Y.shape[0], -1, dtype=np.int64)
        self.rng = np.random.default_rng(seed)
        self.py_rng = random.Random(seed)

    def unassigned_rows(self, label: int) -> np.ndarray:
        rows = self.Yc.indices[self.Yc.indptr[label]:self.Yc.indptr[label + 1]]
        return rows[self.part[rows] < 0]

    def assign_label(self, label: int, rows: np.ndarray) -> None:
        rows = self.rng.permutation(rows)
        got = (self.wanted[label] - self.desired[label]) > 0.5
        choice = _greedy(
            list(self.desired[label]), list(self.size), list(got),
            list(self.wanted[label] > 0), len(rows), self.py_rng,
        )
        self.part[rows] = choice
        for k in np.unique(choice):
            members = rows[choice == k]
            self.desired[:, k] -= np.asarray(self.Y[members].sum(axis=0)).ravel()
            self.size[k] -= len(members)

    def assign_rest(self) -> None:
        """Rows without labels fill the parts that most lack examples."""
        rows = self.rng.permutation(np.flatnonzero(self.part < 0))
        k_parts = len(self.size)
        choice = _greedy(list(self.size), list(self.size), [True] * k_parts,
                         [True] * k_parts, len(rows), self.py_rng)
        self.part[rows] = choice


def _greedy(
    desired: list[float], size: list[float], got: list[bool], wants: list[bool], m: int,
    rng: random.Random,
) -> np.ndarray:
    """Part of each of `m` examples: first a part that wants the label but has none, else the
    largest desired count, then the largest desired size, then chance."""
    parts = range(len(desired))
    out = np.empty(m, dtype=np.int64)
    for i in range(m):
        keys = [(wants[k] and not got[k], desired[k], size[k]) for k in parts]
        best = max(keys)
        ties = [k for k in parts if keys[k] == best]
        k = ties[0] if len(ties) == 1 else rng.choice(ties)
        out[i] = k
        desired[k] -= 1.0
        size[k] -= 1.0
        got[k] = True
    return out


def assign(
    Y: np.ndarray | sp.spmatrix, fractions: Sequence[float], *, method: str = "stratified",
    seed: int = 0,
) -> np.ndarray:
    """Part number of every row, by `method` ('stratified' or 'random')."""
    _check_method(method)
    if method == "random":
        return random_assignment(Y.shape[0], fractions, seed)
    return iterative_stratification(Y, fractions, seed)


def split(
    data: Dataset, sizes: dict[str, float], *, method: str = "stratified", seed: int = 0
) -> Split:
    """Named parts of the given fractions, e.g. {"train": 0.7, "validation": 0.1, "test": 0.2}."""
    if not sizes or any(not isinstance(v, int | float) or v <= 0 for v in sizes.values()):
        raise ConfigError(f"part sizes must be positive fractions; got {sizes}")
    total = sum(sizes.values())
    if abs(total - 1) > 1e-6:
        raise ConfigError(f"part sizes must add up to 1; got {total:g}")
    names, fractions = list(sizes), list(sizes.values())
    part = assign(data.Y, fractions, method=method, seed=seed)
    return Split({n: np.flatnonzero(part == k) for k, n in enumerate(names)}, method, seed)


def train_test_split(
    data: Dataset, test_size: float = 0.2, *, method: str = "stratified", seed: int = 0
) -> tuple[Dataset, Dataset]:
    """(train, test) Datasets."""
    _check_size(test_size, "test_size")
    parts = split(data, {"train": 1 - test_size, "test": test_size}, method=method, seed=seed)
    out = parts.apply(data)
    return out["train"], out["test"]


def validation_split(
    train: Dataset, valid_size: float = 0.1, *, method: str = "stratified", seed: int = 0
) -> tuple[Dataset, Dataset]:
    """(train, validation) taken from the training data; stratified by default."""
    _check_size(valid_size, "valid_size")
    parts = split(
        train, {"train": 1 - valid_size, "validation": valid_size}, method=method, seed=seed
    )
    out = parts.apply(train)
    return out["train"], out["validation"]


def kfold(
    data: Dataset | np.ndarray | sp.spmatrix, k: int = 5, *, method: str = "stratified",
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`k` (train_rows, test_rows) pairs; every row is in exactly one test part."""
    if not isinstance(k, int) or k < 2:
        raise ConfigError(f"`k` must be an integer >= 2; got {k!r}")
    Y = data.Y if isinstance(data, Dataset) else data
    if Y.shape[0] < k:
        raise ConfigError(f"`k` must be at most the number of rows ({Y.shape[0]}); got {k}")
    part = assign(Y, [1.0 / k] * k, method=method, seed=seed)
    return [(np.flatnonzero(part != i), np.flatnonzero(part == i)) for i in range(k)]


def _check_size(value: float, name: str) -> None:
    if not isinstance(value, int | float) or not 0 < value < 1:
        raise ConfigError(f"`{name}` must be a fraction in (0, 1); got {value!r}")
