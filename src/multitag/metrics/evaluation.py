"""Honest multi-label metrics: every name in DESIGN.md, a per-label table, conventions stated once.

`evaluate(Y_true, scores)` returns a `Report` (data only; nothing is printed). Metrics that
scikit-learn has are computed by `metric_kernels` from counts or one sort, equal to scikit-learn's
(tested) but fast with thousands of labels; one_error and the loss come from
`multitag.metrics.ranking`, metric names from `multitag.metrics.names`. A metric undefined on
the whole test set is `None` (JSON has no NaN) and a line in `Report.conventions` says why. This
module does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from multitag.exceptions import ConfigError, DataFormatError
from multitag.metrics import kernels
from multitag.metrics.names import METRIC_NAMES
from multitag.metrics.ranking import BCE_EPS, bce_loss, label_auc, one_error

DEFAULT_K = (1, 3, 5)
DEFAULT_NDCG_K = (5,)

CONVENTIONS: tuple[str, ...] = (
    "micro = counts pooled over all labels and rows; macro = unweighted mean over labels; "
    "samples = mean over rows.",
    "zero_division=0: a precision, recall or F1 whose denominator is 0 counts as 0 "
    "(so a row with no true and no predicted label scores 0 in samples_f1 and jaccard_samples).",
    "Labels with no positive in Y_true are listed in absent_labels; macro_f1 averages over the "
    "labels with at least one positive, while false positives on absent labels still count in "
    "every micro, samples and subset metric.",
    "roc_auc_macro averages ROC-AUC over the labels that have both classes in Y_true; "
    "per-label AUC is None for the others.",
    "Ranking metrics (lrap, ranking_loss, coverage_error) follow scikit-learn: rows with no "
    "relevant label score 1 in lrap, 0 in ranking_loss and 0 in coverage_error.",
    "one_error and ndcg_at_k are averaged over rows with at least one true label; "
    "ties at the top are broken by the lower label index in one_error, arbitrarily in top-k.",
    "precision_at_k counts k slots even when a row has fewer than k true labels, averaged over "
    "all rows.",
    f"loss = mean binary cross-entropy of the scores clipped to [{BCE_EPS:g}, 1 - {BCE_EPS:g}].",
    "label_accuracy = 1 - hamming_loss (what Keras calls 'accuracy' here); "
    "subset_accuracy = exact match of the whole label set.",
)


@dataclass(frozen=True)
class LabelRow:
    """One label's line in the per-label table."""

    name: str
    support: int
    predicted: int
    precision: float
    recall: float
    f1: float
    auc: float | None
    threshold: float | None = None


@dataclass(frozen=True, eq=False)
class Report:
    """Metrics by DESIGN name (None where undefined), a per-label table and the conventions."""

    metrics: dict[str, float | None]
    per_label: list[LabelRow]
    absent_labels: dict[str, list[str]]
    conventions: list[str]
    n_samples: int
    n_labels: int
    label_names: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (plain floats, ints, strings, lists and None)."""
        return {
            "metrics": dict(self.metrics),
            "per_label": [asdict(row) for row in self.per_label],
            "absent_labels": {k: list(v) for k, v in self.absent_labels.items()},
            "conventions": list(self.conventions),
            "n_samples": self.n_samples,
            "n_labels": self.n_labels,
        }

    def with_thresholds(self, thresholds: Sequence[float] | float) -> Report:
        """A copy whose per-label rows carry the decision thresholds (one, or one per label)."""
        values = np.asarray(thresholds, dtype=float).ravel()
        if values.size == 1:
            values = np.repeat(values, self.n_labels)
        if values.size != self.n_labels:
            raise ConfigError(f"`thresholds` must hold one value or one per label "
                              f"({self.n_labels}); got {values.size}")
        rows = [replace(r, threshold=float(t)) for r, t in zip(self.per_label, values, strict=True)]
        return replace(self, per_label=rows)


def report_rows(report: Report) -> list[tuple[str, float | None]]:
    """(name, value) pairs in DESIGN order, then any extra k values, for a CLI table."""
    order = [n for n in METRIC_NAMES if n in report.metrics]
    order += [n for n in report.metrics if n not in METRIC_NAMES]
    return [(name, report.metrics[name]) for name in order]


# ---------------------------------------------------------------------------------------------
# Input checks


def as_label_matrix(Y: object, what: str) -> np.ndarray:
    """A dense uint8 0/1 matrix from an array or sparse matrix, or a `DataFormatError`."""
    if sp.issparse(Y):
        Y = Y.toarray()
    arr = np.asarray(Y)
    if arr.ndim != 2:
        raise DataFormatError(f"{what} must be 2-D (n_samples, n_labels); got shape {arr.shape}")
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
        raise DataFormatError(f"{what} must be numeric 0/1; got dtype {arr.dtype}")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise DataFormatError(f"{what} must hold only 0 and 1; got {arr[bad].ravel()[0].item()!r}")
    return arr.astype(np.uint8)


def as_scores(scores: object, shape: tuple[int, ...]) -> np.ndarray:
    arr = scores.toarray() if sp.issparse(scores) else np.asarray(scores)
    if arr.shape != shape:
        raise DataFormatError(
            f"Y_true has shape {shape} but scores has shape {arr.shape}; they must agree")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataFormatError(f"scores must be numeric; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        row = int(np.where(~np.isfinite(arr).all(axis=1))[0][0])
        raise DataFormatError(f"scores must be finite; got NaN or inf (first in row {row})")
    return arr


def _check_k(k_values: Sequence[int] | None, default: tuple[int, ...], n_labels: int,
             what: str) -> tuple[list[int], list[int]]:
    """(usable k, skipped default k). An explicit k above `n_labels` is a `ConfigError`."""
    explicit = k_values is not None
    ks = list(default if k_values is None else k_values)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"`{what}` must hold integers >= 1; got {k!r}")
        if explicit and k > n_labels:
            raise ConfigError(
                f"`{what}` must hold integers <= the number of labels ({n_labels}); got {k}")
    return [int(k) for k in ks if k <= n_labels], [int(k) for k in ks if k > n_labels]


def _prepare(Y_true: object, scores: object, Y_pred: object | None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Y = as_label_matrix(Y_true, "Y_true")
    if Y.shape[0] == 0 or Y.shape[1] == 0:
        raise DataFormatError(f"Y_true must have at least one row and one label; got {Y.shape}")
    S = as_scores(scores, Y.shape)
    if Y_pred is None:
        if S.min() < 0 or S.max() > 1:
            raise ConfigError(
                "scores are not probabilities (outside [0, 1]); pass Y_pred explicitly")
        return Y, S, (S >= 0.5).astype(np.uint8)
    P = as_label_matrix(Y_pred, "Y_pred")
    if P.shape != Y.shape:
        raise DataFormatError(
            f"Y_true has shape {Y.shape} but Y_pred has shape {P.shape}; they must agree")
    return Y, S, P


# ---------------------------------------------------------------------------------------------
# evaluate


def evaluate(
    Y_true: object,
    scores: object,
    Y_pred: object | None = None,
    *,
    k_values: Sequence[int] | None = None,
    ndcg_k_values: Sequence[int] | None = None,
    label_names: Sequence[str] | None = None,
    thresholds: Sequence[float] | float | None = None,
) -> Report:
    """Every DESIGN metric of `scores` (and `Y_pred`, default `scores >= 0.5`) against `Y_true`.

    `Y_true` and `Y_pred` are 0/1 arrays or CSR matrices of shape (n_samples, n_labels); `scores`
    is a float array of the same shape (probabilities, or any ranking score if `Y_pred` is
    given; `loss` is then None). `k_values` (default 1, 3, 5) and `ndcg_k_values` (default 5) set
    precision@k and nDCG@k; a default k above the number of labels gives None with a note, an
    explicit one is a `ConfigError`. `thresholds` fills the per-label table's threshold column.
    """
    Y, S, P = _prepare(Y_true, scores, Y_pred)
    names = _label_names(label_names, Y.shape[1])
    notes = list(CONVENTIONS)
    positives, negatives = Y.sum(axis=0), Y.shape[0] - Y.sum(axis=0)
    values = _set_metrics(Y, P, positives > 0, names, notes)
    auc = label_auc(Y, S)
    values.update(_ranking_metrics(Y, S, auc, notes))
    values.update(_at_k_metrics(Y, S, k_values, ndcg_k_values, notes))
    values["loss"] = bce_loss(Y, S)
    if values["loss"] is None:
        notes.append("loss: None because the scores are not probabilities in [0, 1].")
    order = [n for n in METRIC_NAMES if n in values] + [n for n in values if n not in METRIC_NAMES]
    report = Report(
        metrics={n: values[n] for n in order},
        per_label=_per_label(Y, P, auc, names),
        absent_labels={
            "no_positive": [names[j] for j in np.flatnonzero(positives == 0)],
            "no_negative": [names[j] for j in np.flatnonzero(negatives == 0)],
        },
        conventions=notes,
        n_samples=int(Y.shape[0]),
        n_labels=int(Y.shape[1]),
        label_names=names,
    )
    return report if thresholds is None else report.with_thresholds(thresholds)


def _label_names(label_names: Sequence[str] | None, n_labels: int) -> list[str]:
    if label_names is None:
        return [f"label_{j}" for j in range(n_labels)]
    names = [str(n) for n in label_names]
    if len(names) != n_labels:
        raise DataFormatError(f"{len(names)} label names given for {n_labels} labels")
    return names


def _listed(names: list[str], mask: np.ndarray, most: int = 10) -> str:
    picked = [names[j] for j in np.flatnonzero(mask)]
    more = f", ... (+{len(picked) - most} more)" if len(picked) > most else ""
    return ", ".join(picked[:most]) + more


def _set_metrics(Y: np.ndarray, P: np.ndarray, present: np.ndarray, names: list[str],
                 notes: list[str]) -> dict[str, float | None]:
    """Metrics of the predicted label sets (equal to scikit-learn's, from counts)."""
    out = kernels.set_metrics(Y, P, present)
    out["label_accuracy"] = 1.0 - out["hamming_loss"]
    if not present.any():
        notes.append("macro_f1: None because no label has a positive in Y_true.")
    if not present.all():
        notes.append(f"macro_f1 is over {int(present.sum())} of {len(names)} labels; "
                     f"no positive in Y_true: {_listed(names, ~present)}.")
    order = ("hamming_loss", "label_accuracy", "subset_accuracy", "micro_f1", "macro_f1",
             "samples_f1", "micro_precision", "micro_recall", "jaccard_samples")
    return {name: out[name] for name in order}


def _widen(Y: np.ndarray, S: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Add a never-true label scored `fill` when there is one column.

    scikit-learn reads one column as binary and refuses samples and ranking metrics; a label
    that is never true and never predicted (or ranked below all others) changes no row's value.
    """
    if Y.shape[1] > 1:
        return Y, S
    return (np.pad(Y, ((0, 0), (0, 1))),
            np.pad(S, ((0, 0), (0, 1)), constant_values=fill).astype(S.dtype))


def _ranking_metrics(Y: np.ndarray, S: np.ndarray, auc: np.ndarray,
                     notes: list[str]) -> dict[str, float | None]:
    """Metrics of the scores' ranking (threshold-free); `auc` holds the per-label ROC-AUC."""
    both = ~np.isnan(auc)
    Yw, Sw = _widen(Y, S, float(S.min()) - 1.0)
    ranks = kernels.row_rankings(Yw, Sw)
    pooled_auc, pooled_ap = kernels.pooled_auc_and_ap(Y, S)
    out: dict[str, float | None] = {
        "roc_auc_micro": pooled_auc, "roc_auc_macro": None, "average_precision_micro": None,
        "lrap": float(ranks["lrap"]), "ranking_loss": float(ranks["ranking_loss"]),
        "coverage_error": float(ranks["coverage_error"]), "one_error": one_error(Y, S),
    }
    if pooled_auc is None:
        notes.append("roc_auc_micro: None because Y_true holds only one class.")
    if both.any():
        out["roc_auc_macro"] = float(np.mean(auc[both]))
    else:
        notes.append("roc_auc_macro: None because no label has both classes in Y_true.")
    if not both.all() and both.any():
        notes.append(f"roc_auc_macro is over {int(both.sum())} of {Y.shape[1]} labels "
                     "(the others lack a class in Y_true).")
    if Y.any():
        out["average_precision_micro"] = pooled_ap
    else:
        notes.append("average_precision_micro and one_error: None because Y_true has no "
                     "positive.")
    return out


def _at_k_metrics(Y: np.ndarray, S: np.ndarray, k_values: Sequence[int] | None,
                  ndcg_k_values: Sequence[int] | None,
                  notes: list[str]) -> dict[str, float | None]:
    ks, skipped = _check_k(k_values, DEFAULT_K, Y.shape[1], "k_values")
    nks, nskipped = _check_k(ndcg_k_values, DEFAULT_NDCG_K, Y.shape[1], "ndcg_k_values")
    from multitag.metrics.topk import top_k_metrics

    found = top_k_metrics(Y, S, ks, nks) if ks or nks else {}  # one top-k pass per chunk
    out: dict[str, float | None] = {}
    for k in sorted(set(ks + skipped)):
        out[f"precision_at_{k}"] = found.get(f"precision_at_{k}")
    for k in sorted(set(nks + nskipped)):
        out[f"ndcg_at_{k}"] = found.get(f"ndcg_at_{k}")
    if skipped or nskipped:
        names = [f"precision_at_{k}" for k in skipped] + [f"ndcg_at_{k}" for k in nskipped]
        notes.append(f"{', '.join(names)}: None because k is larger than the number of labels "
                     f"({Y.shape[1]}).")
    if Y.any() and not Y.any(axis=1).all():
        notes.append(f"one_error and ndcg_at_k are over {int(Y.any(axis=1).sum())} of "
                     f"{Y.shape[0]} rows (the others have no true label).")
    return out


def _per_label(Y: np.ndarray, P: np.ndarray, auc: np.ndarray,
               names: list[str]) -> list[LabelRow]:
    precision, recall, f1, support = kernels.per_label_counts(Y, P)
    predicted = P.sum(axis=0)
    return [
        LabelRow(name=names[j], support=int(support[j]), predicted=int(predicted[j]),
                 precision=float(precision[j]), recall=float(recall[j]), f1=float(f1[j]),
                 auc=None if np.isnan(auc[j]) else float(auc[j]))
        for j in range(Y.shape[1])
    ]
