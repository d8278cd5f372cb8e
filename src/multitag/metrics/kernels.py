"""Vectorised kernels behind `multitag.metrics.evaluation` for many rows and labels.

Each equals the scikit-learn function named in its docstring (tests compare them), but works
from counts or from one sort instead of scikit-learn's per-row or per-label loops and input
checks: 10,000 rows x 1,000 labels went from ~24 s to ~3 s for the whole report (measured on a
shared 2-core machine). No torch.
"""

from __future__ import annotations

import numpy as np


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def set_metrics(Y: np.ndarray, P: np.ndarray, present: np.ndarray) -> dict[str, float | None]:
    """hamming_loss, subset_accuracy, micro/macro/samples F1, micro precision and recall and
    samples Jaccard of 0/1 predictions `P`, as scikit-learn computes them with zero_division=0
    (`macro_f1` over the labels in `present`, None if there is none)."""
    Yb, Pb = Y.astype(bool, copy=False), P.astype(bool, copy=False)
    tp_matrix = Yb & Pb
    tp_row, true_row, pred_row = tp_matrix.sum(1), Yb.sum(1), Pb.sum(1)
    union_row = true_row + pred_row - tp_row
    tp, n_true, n_pred = int(tp_row.sum()), int(true_row.sum()), int(pred_row.sum())
    errors = n_true + n_pred - 2 * tp
    label_f1 = per_label_counts(Y, P)[2]
    return {
        "hamming_loss": errors / Y.size,
        "subset_accuracy": float(np.mean(union_row == tp_row)),
        "micro_f1": float(_ratio(2 * tp, n_true + n_pred)),
        "macro_f1": float(label_f1[present].mean()) if present.any() else None,
        "samples_f1": float(_ratio(2 * tp_row, true_row + pred_row).mean()),
        "micro_precision": float(_ratio(tp, n_pred)),
        "micro_recall": float(_ratio(tp, n_true)),
        "jaccard_samples": float(_ratio(tp_row, union_row).mean()),
    }


def per_label_counts(Y: np.ndarray, P: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision, recall, F1 and support (`precision_recall_fscore_support`,
    average=None, zero_division=0)."""
    Yb, Pb = Y.astype(bool, copy=False), P.astype(bool, copy=False)
    tp = (Yb & Pb).sum(0)
    support, predicted = Yb.sum(0), Pb.sum(0)
    return (_ratio(tp, predicted), _ratio(tp, support), _ratio(2 * tp, support + predicted),
            support)


def pooled_auc_and_ap(Y: np.ndarray, S: np.ndarray) -> tuple[float | None, float | None]:
    """ROC-AUC and average precision of all (row, label) pairs pooled (scikit-learn's
    `roc_auc_score` / `average_precision_score` with average="micro"), from one sort of the
    scores: a positive's mid-rank among all scores gives the Mann-Whitney AUC, and the count of
    scores at or above each distinct positive score gives precision at that cut-off."""
    y, s = Y.ravel().astype(bool), S.ravel()
    positives = np.sort(s[y])
    n_pos, n = len(positives), len(s)
    if n_pos == 0:
        return None, None
    ordered = np.sort(s)
    below = np.searchsorted(ordered, positives, side="left")
    upto = np.searchsorted(ordered, positives, side="right")
    auc = None
    if n_pos < n:
        rank_sum = float(np.sum((below + upto + 1) / 2.0))
        auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * (n - n_pos))
    first = np.flatnonzero(np.r_[True, positives[1:] != positives[:-1]])
    gain = np.diff(np.r_[first, n_pos])  # positives at each distinct positive score
    precision = (n_pos - first) / (n - below[first])
    return auc, float(np.sum(gain / n_pos * precision))


def label_auc(Y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """ROC-AUC of each column (`roc_auc_score(average=None)`, mid-ranks for ties); NaN where a
    column lacks a class. One sort of every column, then each positive's rank by bisection."""
    n_rows, n_labels = Y.shape
    ordered = np.sort(S, axis=0).T.copy()
    Yc = np.asfortranarray(Y.astype(bool, copy=False))
    auc = np.full(n_labels, np.nan)
    n_pos = Yc.sum(0)
    for j in np.flatnonzero((n_pos > 0) & (n_pos < n_rows)):
        scores = S[Yc[:, j], j]
        lo = np.searchsorted(ordered[j], scores, side="left")
        hi = np.searchsorted(ordered[j], scores, side="right")
        rank_sum = np.sum(lo + hi + 1) / 2.0
        p = float(n_pos[j])
        auc[j] = (rank_sum - p * (p + 1) / 2.0) / (p * (n_rows - p))
    return auc


def row_rankings(Y: np.ndarray, S: np.ndarray, chunk: int = 4096) -> dict[str, float]:
    """lrap, ranking_loss and coverage_error with scikit-learn's conventions (ties rank
    pessimistically; rows with no relevant or only relevant labels score 1, 0 and 0), from one
    sort of every row, in row chunks to bound memory."""
    totals = np.zeros(3)
    for start in range(0, Y.shape[0], chunk):
        totals += _row_rankings(Y[start:start + chunk], S[start:start + chunk])
    n_rows = max(Y.shape[0], 1)
    return {"lrap": totals[0] / n_rows, "ranking_loss": totals[1] / n_rows,
            "coverage_error": totals[2] / n_rows}


def _row_rankings(Y: np.ndarray, S: np.ndarray) -> np.ndarray:
    Yb = np.asarray(Y, dtype=bool)
    n_rows, n_labels = Yb.shape
    S = np.asarray(S, dtype=np.float64)
    order = np.argsort(-S, axis=1)  # order inside a tie group does not matter here
    s_sorted = np.take_along_axis(S, order, axis=1)
    y_sorted = np.take_along_axis(Yb, order, axis=1)
    new_value = np.ones((n_rows, n_labels), dtype=bool)
    new_value[:, 1:] = s_sorted[:, 1:] != s_sorted[:, :-1]
    columns = np.arange(n_labels)
    group_start = np.maximum.accumulate(np.where(new_value, columns, 0), axis=1)
    run_end = np.ones((n_rows, n_labels), dtype=bool)
    run_end[:, :-1] = new_value[:, 1:]
    group_end = np.minimum.accumulate(np.where(run_end, columns, n_labels)[:, ::-1],
                                      axis=1)[:, ::-1]
    true_cum = np.cumsum(y_sorted, axis=1)
    n_relevant = true_cum[:, -1]
    at_or_above = np.take_along_axis(true_cum, group_end, axis=1)
    lrap_rows = np.where(y_sorted, at_or_above / (group_end + 1), 0.0).sum(1)
    strictly_above = np.take_along_axis(true_cum, group_start, axis=1) - np.take_along_axis(
        y_sorted, group_start, axis=1)
    misordered = np.where(~y_sorted, n_relevant[:, None] - strictly_above, 0).sum(1)
    degenerate = (n_relevant == 0) | (n_relevant == n_labels)
    pairs = np.maximum(n_relevant * (n_labels - n_relevant), 1)
    lrap_value = np.where(degenerate, 1.0, lrap_rows / np.maximum(n_relevant, 1))
    loss = np.where(degenerate, 0.0, misordered / pairs)
    last_relevant = np.where(Yb.any(1), _last_true(y_sorted), -1)
    coverage = np.where(last_relevant >= 0, np.take_along_axis(
        group_end, np.maximum(last_relevant, 0)[:, None], axis=1)[:, 0] + 1, 0)
    return np.array([lrap_value.sum(), loss.sum(), coverage.sum()], dtype=np.float64)


def _last_true(y_sorted: np.ndarray) -> np.ndarray:
    """Index of each row's last True (rows with at least one)."""
    n_labels = y_sorted.shape[1]
    return n_labels - 1 - np.argmax(y_sorted[:, ::-1], axis=1)
