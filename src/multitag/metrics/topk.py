"""precision@k and nDCG@k over row chunks, for many labels: the scores of all rows and labels are
never held at once (each chunk's k best labels are found with `argpartition` and the chunk is
dropped), and true labels may stay a sparse CSR matrix.

Conventions are those of `multitag.metrics.evaluation`: precision@k counts k slots and averages
over all rows; nDCG@k (binary gains) averages over rows with at least one true label; ties
among scores are broken arbitrarily. This module does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from multitag.exceptions import ConfigError, DataFormatError

DEFAULT_CHUNK_ROWS = 4096


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k highest scores, best first (k <= n_labels)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(scores, scores.shape[1] - k, axis=1)[:, -k:]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


@dataclass
class TopKAccumulator:
    """Running sums of precision@k and nDCG@k, fed one chunk of rows at a time."""

    ks: Sequence[int]
    ndcg_ks: Sequence[int]
    rows: int = 0
    rows_with_labels: int = 0

    def __post_init__(self) -> None:
        for k in (*self.ks, *self.ndcg_ks):
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ConfigError(f"k must be an integer >= 1; got {k!r}")
        self.k_max = max((*self.ks, *self.ndcg_ks))
        self.hits = {k: 0.0 for k in self.ks}
        self.ndcg = {k: 0.0 for k in self.ndcg_ks}

    def add(self, Y: np.ndarray | sp.spmatrix, scores: np.ndarray) -> None:
        """Add rows: true labels `Y` (0/1, dense or sparse) and their `scores`."""
        if scores.shape != Y.shape:
            raise DataFormatError(f"a chunk of scores has shape {scores.shape} but its labels "
                                  f"have {Y.shape}; they must agree")
        if self.k_max > Y.shape[1]:
            raise ConfigError(f"k must be <= the number of labels ({Y.shape[1]}); "
                              f"got {self.k_max}")
        top = top_k_indices(np.asarray(scores), self.k_max)
        gains = _gains(Y, top)
        n_true = np.asarray(Y.sum(axis=1)).ravel().round().astype(np.int64)
        labelled = n_true > 0
        self.rows += len(top)
        self.rows_with_labels += int(labelled.sum())
        for k in self.ks:
            self.hits[k] += float(gains[:, :k].sum()) / k
        discount = 1.0 / np.log2(np.arange(2, self.k_max + 2))
        for k in self.ndcg_ks:
            dcg = (gains[labelled, :k] * discount[:k]).sum(axis=1)
            ideal = np.cumsum(discount[:k])[np.minimum(n_true[labelled], k) - 1]
            self.ndcg[k] += float((dcg / ideal).sum())

    def result(self) -> dict[str, float | None]:
        """precision_at_k and ndcg_at_k by name (nDCG None when no row has a true label)."""
        out: dict[str, float | None] = {
            f"precision_at_{k}": self.hits[k] / self.rows if self.rows else None
            for k in sorted(self.ks)}
        for k in sorted(self.ndcg_ks):
            out[f"ndcg_at_{k}"] = (self.ndcg[k] / self.rows_with_labels
                                   if self.rows_with_labels else None)
        return out


def _gains(Y: np.ndarray | sp.spmatrix, top: np.ndarray) -> np.ndarray:
    """Y[row, top[row, j]] as a dense (rows, k) float array, without densifying sparse Y."""
    if not sp.issparse(Y):
        return np.take_along_axis(np.asarray(Y), top, axis=1).astype(np.float64)
    Y = sp.csr_matrix(Y)
    rows = np.repeat(np.arange(top.shape[0]), top.shape[1])
    return np.asarray(Y[rows, top.ravel()], dtype=np.float64).reshape(top.shape)


def top_k_metrics(
    Y: np.ndarray | sp.spmatrix, scores: np.ndarray | Callable[[int, int], np.ndarray] |
    Iterable[np.ndarray], ks: Sequence[int] = (1, 3, 5), ndcg_ks: Sequence[int] = (1, 3, 5),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict[str, float | None]:
    """precision@k and nDCG@k of `scores` against `Y` (n_samples, n_labels), by row chunks.

    `scores` is an array, a function `(start, stop) -> scores of those rows` (for instance a
    model predicting one chunk), or an iterable of consecutive row chunks.
    """
    n_rows = Y.shape[0]
    acc = TopKAccumulator(ks, ndcg_ks)
    if isinstance(scores, np.ndarray) or callable(scores):
        get = (lambda a, b: scores[a:b]) if isinstance(scores, np.ndarray) else scores
        chunks = (get(start, min(start + chunk_rows, n_rows))
                  for start in range(0, n_rows, chunk_rows))
    else:
        chunks = iter(scores)
    start = 0
    for chunk in chunks:
        stop = start + len(chunk)
        acc.add(Y[start:stop], np.asarray(chunk))
        start = stop
    if start != n_rows:
        raise DataFormatError(f"the score chunks cover {start} rows; the labels have {n_rows}")
    return acc.result()


def bundle_top_k(bundle: object, data: object, ks: Sequence[int] = (1, 3, 5),
                 ndcg_ks: Sequence[int] = (1, 3, 5),
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> dict[str, float | None]:
    """Top-k metrics of a saved model on a labelled Dataset, predicting one chunk at a time."""
    def predict(start: int, stop: int) -> np.ndarray:
        return bundle.predict_proba(data.subset(np.arange(start, stop)))

    return top_k_metrics(data.Y, predict, ks, ndcg_ks, chunk_rows)
