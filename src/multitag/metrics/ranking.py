"""Per-metric functions of a dense 0/1 label matrix `Y` and a score matrix `S` (numpy).

one_error, precision@k and nDCG@k are written here, vectorised; lrap, the pooled average
precision and per-label ROC-AUC delegate to `multitag.metrics.kernels` and equal
scikit-learn's; `bce_loss` is the mean binary cross-entropy of probability scores clipped to
[BCE_EPS, 1 - BCE_EPS]. Inputs are assumed checked (see `multitag.metrics.evaluation`).
This module does not import torch.
"""

from __future__ import annotations

import numpy as np

from multitag.metrics import kernels

BCE_EPS = 1e-7


def _top_k(S: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's k highest scores, best first."""
    part = np.argpartition(-S, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(S, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def one_error(Y: np.ndarray, S: np.ndarray) -> float | None:
    """Share of rows (with a true label) whose top-scored label is not a true one."""
    rows = Y.any(axis=1)
    if not rows.any():
        return None
    top = S[rows].argmax(axis=1)
    return float(1.0 - Y[rows, top].mean())


def precision_at_k(Y: np.ndarray, S: np.ndarray, k: int) -> float:
    """Mean over rows of (true labels among the k top-scored) / k."""
    hits = np.take_along_axis(Y, _top_k(S, k), axis=1)
    return float(hits.sum(axis=1).mean() / k)


def ndcg_at_k(Y: np.ndarray, S: np.ndarray, k: int) -> float | None:
    """Mean nDCG@k with binary gains over rows with at least one true label."""
    rows = Y.any(axis=1)
    if not rows.any():
        return None
    Y, S = Y[rows], S[rows]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (np.take_along_axis(Y, _top_k(S, k), axis=1) * discount).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(Y.sum(axis=1), k)]
    return float((dcg / ideal).mean())


def bce_loss(Y: np.ndarray, S: np.ndarray) -> float | None:
    """Mean binary cross-entropy of probability scores (clipped), None if not probabilities."""
    if S.min() < 0 or S.max() > 1:
        return None
    p = np.clip(S, BCE_EPS, 1 - BCE_EPS)
    return float(-np.mean(np.where(Y == 1, np.log(p), np.log1p(-p))))


def average_precision_pooled(Y: np.ndarray, S: np.ndarray) -> float:
    """Average precision of all (row, label) pairs pooled: scikit-learn's micro average."""
    return kernels.pooled_auc_and_ap(Y, S)[1]


def lrap(Y: np.ndarray, S: np.ndarray) -> float:
    """Label ranking average precision, equal to scikit-learn's (tied scores rank
    pessimistically; a row with no relevant label or only relevant labels scores 1)."""
    return float(kernels.row_rankings(Y, S)["lrap"]) if len(Y) else 0.0


def label_auc(Y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """ROC-AUC of each column; NaN where a column lacks a class (mid-ranks for ties), equal to
    scikit-learn's `roc_auc_score(average=None)` without its per-label checks."""
    return kernels.label_auc(Y, S)
