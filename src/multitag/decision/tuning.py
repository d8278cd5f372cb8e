"""Threshold tuning for the decision rules: the objective of 0/1 predictions and the exact search.

Tuned rules search thresholds among the midpoints between distinct scores (quantiles when there
are more than `max_candidates`), plus 0.5, so the search is exact on its own data and never ends
worse than the fixed 0.5 threshold on the objective it tunes. A label is predicted when
`proba >= threshold`. This module does not import torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multitag.exceptions import ConfigError, DataFormatError
from multitag.metrics.evaluation import as_label_matrix, as_scores
from multitag.options import OBJECTIVES

SAMPLES_GRID = 64


# ---------------------------------------------------------------------------------------------
# Checks


def check_threshold(value: object, what: str = "threshold") -> float:
    """`value` as a float in [0, 1], or a `ConfigError` saying so."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
        raise ConfigError(f"`{what}` must be a float in [0, 1]; got {value!r}.")
    return float(value)  # type: ignore[arg-type]


def check_objective(objective: object) -> str:
    if objective not in OBJECTIVES:
        raise ConfigError(f"`objective` must be one of {', '.join(OBJECTIVES)}; got {objective!r}.")
    return str(objective)


def check_int(value: object, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"`{what}` must be an integer >= {low}; got {value!r}.")
    return int(value)


def check_proba(proba: object, n_labels: int | None = None) -> np.ndarray:
    """A 2-D float array of probabilities in [0, 1] (with `n_labels` columns if given)."""
    arr = np.asarray(proba.toarray() if hasattr(proba, "toarray") else proba)
    if arr.ndim != 2:
        raise DataFormatError(f"proba must be 2-D (n_samples, n_labels); got shape {arr.shape}")
    S = as_scores(arr, arr.shape)
    if S.size and (S.min() < 0 or S.max() > 1):
        raise DataFormatError("proba must hold probabilities in [0, 1]")
    if n_labels is not None and S.shape[1] != n_labels:
        raise DataFormatError(
            f"proba has {S.shape[1]} label columns but the rule was fitted on {n_labels}")
    return S


def check_pair(Y_true: object, proba: object) -> tuple[np.ndarray, np.ndarray]:
    Y = as_label_matrix(Y_true, "Y_true")
    S = check_proba(proba)
    if S.shape != Y.shape:
        raise DataFormatError(
            f"Y_true has shape {Y.shape} but proba has shape {S.shape}; they must agree")
    if Y.shape[0] == 0:
        raise DataFormatError("cannot tune a decision rule on 0 rows")
    return Y, S


# ---------------------------------------------------------------------------------------------
# Objectives from counts (higher gain is better; hamming gain = -hamming loss)


def objective_value(objective: str, Y_true: object, Y_pred: object) -> float:
    """The objective of 0/1 predictions in its natural units (hamming = hamming loss)."""
    Y = as_label_matrix(Y_true, "Y_true")
    P = as_label_matrix(Y_pred, "Y_pred")
    if objective == "samples_f1":
        return float(_samples_f1(Y, P))
    tp, pp = (Y & P).sum(axis=0), P.sum(axis=0)
    gain = _gain(check_objective(objective), tp, pp, Y.sum(axis=0), Y.shape[0])
    return float(-gain if objective == "hamming" else gain)


def _samples_f1(Y: np.ndarray, P: np.ndarray) -> float:
    tp = np.count_nonzero(Y & P, axis=1)
    denom = np.count_nonzero(Y, axis=1) + np.count_nonzero(P, axis=1)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros(np.shape(denom)), where=denom > 0)


def _gain(objective: str, tp: np.ndarray, pp: np.ndarray, pos: np.ndarray, n: int) -> Any:
    """Gain from per-label counts (last axis = labels); micro, macro or hamming."""
    tp, pp, pos = (np.asarray(a, dtype=np.float64) for a in (tp, pp, pos))
    fp, fn = pp - tp, pos - tp
    if objective == "micro_f1":
        return _f1(tp.sum(-1), fp.sum(-1), fn.sum(-1))
    if objective == "hamming":
        return -(fp + fn).sum(-1) / (n * tp.shape[-1])
    present = pos > 0
    if not present.any():
        return np.zeros(tp.shape[:-1])
    return _f1(tp, fp, fn)[..., present].mean(-1)


def _best(cands: np.ndarray, gains: np.ndarray, reference: float) -> int:
    """Index of the best gain; ties go to the candidate nearest `reference`."""
    tied = np.flatnonzero(gains == gains.max())
    return int(tied[np.argmin(np.abs(cands[tied] - reference))])


# ---------------------------------------------------------------------------------------------
# Candidate thresholds and per-column sorted counts


def candidates(values: np.ndarray, max_candidates: int, extra: tuple[float, ...] = (),
               *, presorted: bool = False) -> np.ndarray:
    """Thresholds that realise every distinct cut of `values` (or of its quantiles), plus `extra`.

    The midpoints between consecutive distinct values (at most `max_candidates`, else evenly
    spaced order statistics), 0 (everything passes) and a point above the maximum (nothing
    passes) when that is still <= 1.
    """
    ordered = np.asarray(values, dtype=np.float64).ravel()
    if not presorted:
        ordered = np.sort(ordered)
    distinct = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
    if len(distinct) > max_candidates:
        picks = np.linspace(0, len(ordered) - 1, max_candidates).round().astype(np.int64)
        distinct = np.unique(ordered[picks])
    low, high = distinct[:-1], distinct[1:]
    mid = low + (high - low) / 2
    mid = np.where(mid > low, mid, high)
    top = [(distinct[-1] + 1) / 2] if distinct[-1] < 1 else []
    return np.unique(np.concatenate([[0.0], mid, top, np.asarray(extra, dtype=np.float64)]))


class _Columns:
    """Each label's scores sorted once (labels as rows, for memory locality) with suffix counts
    of positives, so any threshold's counts cost one binary search."""

    def __init__(self, Y: np.ndarray, S: np.ndarray) -> None:
        self.Y, self.S = Y, S
        scores_t = np.ascontiguousarray(S.T)
        self.order = np.argsort(scores_t, axis=1)
        self.sorted = np.take_along_axis(scores_t, self.order, axis=1)
        y_sorted = np.take_along_axis(np.ascontiguousarray(Y.T), self.order, axis=1)
        suffix = np.cumsum(y_sorted[:, ::-1], axis=1, dtype=np.int64)[:, ::-1]
        self.tp_suffix = np.concatenate([suffix, np.zeros((len(suffix), 1), np.int64)], axis=1)

    def passing_sums(self, j: int, row_values: np.ndarray, cands: np.ndarray) -> np.ndarray:
        """For each candidate t: the sum of `row_values` over rows with S[:, j] >= t."""
        v = row_values[self.order[j]].astype(np.float64)
        suffix = np.concatenate([np.cumsum(v[::-1])[::-1], [0.0]])
        return suffix[np.searchsorted(self.sorted[j], cands, side="left")]

    def counts(self, j: int, cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(true positives, predicted positives) of label j at each candidate threshold."""
        idx = np.searchsorted(self.sorted[j], cands, side="left")
        return self.tp_suffix[j, idx], self.sorted.shape[1] - idx


# ---------------------------------------------------------------------------------------------
# Tuning


def tune_global(Y: np.ndarray, S: np.ndarray, objective: str, max_candidates: int = 1000,
                columns: _Columns | None = None) -> float:
    """The one threshold for all labels that maximises `objective` on (Y, S)."""
    if objective == "samples_f1":
        cands = candidates(S.ravel(), SAMPLES_GRID, (0.5,))
        gains = np.array([_samples_f1(Y, np.greater_equal(S, c)) for c in cands])
        return float(cands[_best(cands, gains, 0.5)])
    if objective in ("micro_f1", "hamming") and columns is None:
        return _tune_pooled(Y, S, objective, max_candidates)
    cols = columns or _Columns(Y, S)
    cands = candidates(S.ravel(), max_candidates, (0.5,))
    tp = np.empty((len(cands), Y.shape[1]))
    pp = np.empty_like(tp)
    for j in range(Y.shape[1]):
        tp[:, j], pp[:, j] = cols.counts(j, cands)
    gains = _gain(objective, tp, pp, Y.sum(axis=0), Y.shape[0])
    return float(cands[_best(cands, gains, 0.5)])


def _tune_pooled(Y: np.ndarray, S: np.ndarray, objective: str, max_candidates: int) -> float:
    """`tune_global` for objectives of pooled counts (micro-F1, Hamming loss): one sort of
    every cell instead of one per label (many labels: the early-stopping score each epoch)."""
    everything = np.sort(S.ravel().astype(np.float64))
    positives = np.sort(S.ravel()[Y.ravel() > 0].astype(np.float64))
    cands = candidates(everything, max_candidates, (0.5,), presorted=True)
    tp = len(positives) - np.searchsorted(positives, cands, side="left")
    pp = len(everything) - np.searchsorted(everything, cands, side="left")
    pos = np.array([len(positives)])
    gains = _gain(objective, tp[:, None], pp[:, None], pos, Y.shape[0] * Y.shape[1])
    return float(cands[_best(cands, gains, 0.5)])


def tune_per_label(Y: np.ndarray, S: np.ndarray, objective: str, max_candidates: int = 1000,
                   ) -> tuple[np.ndarray, float]:
    """(a threshold per label, the global threshold they start from) maximising `objective`.

    Starts from the tuned global threshold; labels without a positive keep it. macro_f1 and
    hamming split into one problem per label (solved exactly); micro_f1 and samples_f1 are
    improved one label at a time, each step keeping the current threshold unless another is
    strictly better, so the objective never decreases.
    """
    cols = _Columns(Y, S)
    start = tune_global(Y, S, objective, max_candidates, cols)
    thresholds = np.full(Y.shape[1], start)
    tunable = np.flatnonzero(Y.any(axis=0))
    if objective == "samples_f1":
        _ascend_samples(cols, thresholds, tunable, max_candidates)
    elif objective == "micro_f1":
        _ascend_micro(cols, thresholds, tunable, max_candidates)
    else:
        for j in tunable:
            cands = candidates(cols.sorted[j], max_candidates, (0.5, start), presorted=True)
            tp, pp = cols.counts(j, cands)
            pos = int(Y[:, j].sum())
            gains = _f1(tp, pp - tp, pos - tp) if objective == "macro_f1" else -(pp + pos - 2 * tp)
            thresholds[j] = cands[_best(cands, gains, start)]
    return thresholds, start


def _ascend_micro(cols: _Columns, t: np.ndarray, labels: np.ndarray, max_candidates: int) -> None:
    """One coordinate-ascent pass over `labels` on micro F1, updating `t` in place."""
    P = np.greater_equal(cols.S, t)
    tp_cur = np.count_nonzero(P & (cols.Y == 1), axis=0)
    pp_cur = np.count_nonzero(P, axis=0)
    pos = int(cols.Y.sum())
    for j in labels:
        cands = candidates(cols.sorted[j], max_candidates, (0.5, t[j]), presorted=True)
        tp, pp = cols.counts(j, cands)
        TP = tp_cur.sum() - tp_cur[j] + tp
        PP = pp_cur.sum() - pp_cur[j] + pp
        k = _best(cands, _f1(TP, PP - TP, pos - TP), t[j])
        t[j], tp_cur[j], pp_cur[j] = cands[k], tp[k], pp[k]


def _ascend_samples(cols: _Columns, t: np.ndarray, labels: np.ndarray,
                    max_candidates: int) -> None:
    """One coordinate-ascent pass over `labels` on samples F1, updating `t` in place."""
    Y = cols.Y
    P = np.greater_equal(cols.S, t)
    pos_r = Y.sum(axis=1).astype(np.float64)
    tp_r = np.count_nonzero(P & (Y == 1), axis=1).astype(np.float64)
    pp_r = np.count_nonzero(P, axis=1).astype(np.float64)
    for j in labels:
        y, cur = Y[:, j].astype(np.float64), P[:, j].astype(np.float64)
        tp0, pp0 = tp_r - cur * y, pp_r - cur
        without = _f1(tp0, pp0 - tp0, pos_r - tp0)
        delta = 2 * (tp0 + y) / (pp0 + 1 + pos_r) - without
        cands = candidates(cols.sorted[j], max_candidates, (0.5, t[j]), presorted=True)
        k = _best(cands, cols.passing_sums(j, delta, cands), t[j])
        t[j] = cands[k]
        P[:, j] = cols.S[:, j] >= t[j]
        tp_r = tp0 + P[:, j] * y
        pp_r = pp0 + P[:, j]
