"""multitag.metrics.evaluation: cross-checked against scikit-learn, hand-checked where it has no
equivalent."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from multitag.exceptions import ConfigError, DataFormatError
from multitag.metrics.evaluation import Report, evaluate, report_rows
from multitag.metrics.names import (
    METRIC_NAMES,
    greater_is_better,
    metric_names,
    parse_metric_name,
    parse_metric_names,
)
from multitag.metrics.ranking import label_auc


def _random_case(seed: int, n: int = 60, n_labels: int = 6, absent: bool = False):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, n_labels)) < 0.3).astype(np.uint8)
    S = np.clip(0.35 * Y + 0.65 * rng.random((n, n_labels)), 0, 1)
    if absent:
        Y[:, 0] = 0
        Y[:, -1] = 1
    return Y, S


def _sklearn_reference(Y: np.ndarray, S: np.ndarray) -> dict[str, float]:
    P = (S >= 0.5).astype(np.uint8)
    both = Y.any(axis=0) & ~Y.all(axis=0)
    present = np.flatnonzero(Y.any(axis=0))
    return {
        "hamming_loss": skm.hamming_loss(Y, P),
        "label_accuracy": 1 - skm.hamming_loss(Y, P),
        "subset_accuracy": skm.accuracy_score(Y, P),
        "micro_f1": skm.f1_score(Y, P, average="micro", zero_division=0),
        "macro_f1": skm.f1_score(Y, P, average="macro", labels=present, zero_division=0),
        "samples_f1": skm.f1_score(Y, P, average="samples", zero_division=0),
        "micro_precision": skm.precision_score(Y, P, average="micro", zero_division=0),
        "micro_recall": skm.recall_score(Y, P, average="micro", zero_division=0),
        "jaccard_samples": skm.jaccard_score(Y, P, average="samples", zero_division=0),
        "roc_auc_micro": skm.roc_auc_score(Y, S, average="micro"),
        "roc_auc_macro": skm.roc_auc_score(Y[:, both], S[:, both], average="macro"),
        "average_precision_micro": skm.average_precision_score(Y, S, average="micro"),
        "lrap": skm.label_ranking_average_precision_score(Y, S),
        "ranking_loss": skm.label_ranking_loss(Y, S),
        "coverage_error": skm.coverage_error(Y, S),
    }


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("absent", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_matches_sklearn(seed: int, absent: bool, sparse: bool) -> None:
    Y, S = _random_case(seed, absent=absent)
    report = evaluate(sp.csr_matrix(Y) if sparse else Y, S)
    for name, expected in _sklearn_reference(Y, S).items():
        assert report.metrics[name] == pytest.approx(expected, abs=1e-12), name
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        Y, (S >= 0.5).astype(np.uint8), average=None, zero_division=0)
    for j, row in enumerate(report.per_label):
        assert (row.support, row.precision, row.recall, row.f1) == pytest.approx(
            (support[j], precision[j], recall[j], f1[j]))


def test_single_label_column() -> None:
    Y, S = _random_case(7, n=40, n_labels=1)
    report = evaluate(Y, S)
    assert report.metrics["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(Y[:, 0], S[:, 0]))
    # regression: scikit-learn reads one column as binary, where "micro" F1 is plain accuracy
    f1 = skm.f1_score(Y[:, 0], S[:, 0] >= 0.5, zero_division=0)
    assert report.metrics["micro_f1"] == report.metrics["macro_f1"] == pytest.approx(f1)
    assert len(report.per_label) == 1 and report.per_label[0].f1 == pytest.approx(f1)
    assert report.per_label[0].support == Y.sum()
    assert report.metrics["precision_at_1"] == pytest.approx(Y.mean())
    assert report.metrics["precision_at_3"] is None
    assert report.metrics["one_error"] == 0.0  # the only label is always the top one
    assert report.metrics["lrap"] == 1.0 and report.metrics["ranking_loss"] == 0.0
    assert report.metrics["coverage_error"] == pytest.approx(Y.mean())
    samples = np.mean(Y[:, 0] & (S[:, 0] >= 0.5))  # a row scores 1 only when both are 1
    assert report.metrics["samples_f1"] == report.metrics["jaccard_samples"] == samples


@pytest.mark.parametrize("decimals", [1, 2, None])
def test_pooled_auc_and_average_precision_match_sklearn_with_ties(decimals: int | None) -> None:
    Y, S = _random_case(8, n=150, n_labels=5)
    S = S if decimals is None else np.round(S, decimals)
    m = evaluate(Y, S).metrics
    assert m["roc_auc_micro"] == pytest.approx(skm.roc_auc_score(Y, S, average="micro"))
    assert m["average_precision_micro"] == pytest.approx(
        skm.average_precision_score(Y, S, average="micro"))


def test_label_auc_matches_sklearn_with_ties() -> None:
    Y, S = _random_case(3, n=200, n_labels=8, absent=True)
    S = np.round(S, 1)
    auc = label_auc(Y, S)
    both = Y.any(axis=0) & ~Y.all(axis=0)
    np.testing.assert_allclose(auc[both], skm.roc_auc_score(Y[:, both], S[:, both], average=None))
    assert np.isnan(auc[~both]).all()


# ---- hand-checked: one_error, precision@k, nDCG@k ----------------------------------------------

Y_HAND = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0]])
S_HAND = np.array([[0.9, 0.8, 0.1, 0.3], [0.7, 0.6, 0.2, 0.1], [0.5, 0.4, 0.3, 0.2]])


def test_hand_checked_ranking_metrics() -> None:
    report = evaluate(Y_HAND, S_HAND, k_values=(1, 3, 4), ndcg_k_values=(1, 3))
    m = report.metrics
    assert m["one_error"] == pytest.approx(0.5)  # row 0 right, row 1 wrong, row 2 skipped
    assert m["precision_at_1"] == pytest.approx(1 / 3)
    assert m["precision_at_3"] == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert m["precision_at_4"] == pytest.approx((2 / 4 + 1 / 4 + 0) / 3)
    row0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    row1 = (1 / math.log2(3)) / 1
    assert m["ndcg_at_3"] == pytest.approx((row0 + row1) / 2)
    assert m["ndcg_at_1"] == pytest.approx((1 + 0) / 2)


def test_default_k_above_label_count_is_none_with_note() -> None:
    report = evaluate(Y_HAND, S_HAND)
    assert report.metrics["precision_at_5"] is None
    assert report.metrics["ndcg_at_5"] is None
    assert any("precision_at_5, ndcg_at_5: None" in c for c in report.conventions)


@pytest.mark.parametrize("kwargs", [{"k_values": (5,)}, {"ndcg_k_values": (9,)}])
def test_explicit_k_above_label_count_is_an_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=r"<= the number of labels \(4\); got"):
        evaluate(Y_HAND, S_HAND, **kwargs)


def test_bad_k_is_an_error() -> None:
    with pytest.raises(ConfigError, match="`k_values` must hold integers >= 1; got 0"):
        evaluate(Y_HAND, S_HAND, k_values=(0,))


# ---- report shape and conventions -------------------------------------------------------------

def test_report_has_exactly_the_design_names_and_is_json() -> None:
    Y, S = _random_case(1, absent=True)
    report = evaluate(Y, S, label_names=list("abcdef"), thresholds=0.5)
    assert tuple(report.metrics) == METRIC_NAMES == metric_names()
    data = json.loads(json.dumps(report.as_dict()))
    assert data["absent_labels"] == {"no_positive": ["a"], "no_negative": ["f"]}
    assert data["per_label"][0]["name"] == "a" and data["per_label"][0]["auc"] is None
    assert all(row["threshold"] == 0.5 for row in data["per_label"])
    assert report.metrics["label_accuracy"] == pytest.approx(1 - report.metrics["hamming_loss"])
    assert any("macro_f1 is over 5 of 6 labels" in c for c in report.conventions)
    assert [name for name, _ in report_rows(report)] == list(METRIC_NAMES)


def test_per_label_thresholds_and_predicted_counts() -> None:
    Y, S = _random_case(2)
    report = evaluate(Y, S).with_thresholds([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert [row.threshold for row in report.per_label] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert [row.predicted for row in report.per_label] == list((S >= 0.5).sum(axis=0))
    with pytest.raises(ConfigError, match=r"one value or one per label \(6\); got 2"):
        report.with_thresholds([0.1, 0.2])


def test_undefined_overall_metrics_are_none_and_explained() -> None:
    Y = np.zeros((5, 3), dtype=np.uint8)
    report = evaluate(Y, np.full((5, 3), 0.2))
    for name in ("macro_f1", "roc_auc_micro", "roc_auc_macro", "average_precision_micro",
                 "one_error"):
        assert report.metrics[name] is None, name
    assert report.absent_labels["no_positive"] == ["label_0", "label_1", "label_2"]
    text = " ".join(report.conventions)
    assert "no label has a positive" in text and "only one class" in text
    json.dumps(report.as_dict())


def test_loss_is_mean_clipped_bce_and_none_for_raw_scores() -> None:
    Y = np.array([[1, 0], [0, 1]])
    S = np.array([[0.8, 0.0], [0.4, 1.0]])
    p = np.clip(S, 1e-7, 1 - 1e-7)
    expected = -np.mean(Y * np.log(p) + (1 - Y) * np.log(1 - p))
    assert evaluate(Y, S).metrics["loss"] == pytest.approx(expected)
    raw = evaluate(Y, S * 4 - 2, Y_pred=S >= 0.5)
    assert raw.metrics["loss"] is None
    assert raw.metrics["roc_auc_micro"] == evaluate(Y, S).metrics["roc_auc_micro"]


def test_explicit_y_pred_is_used() -> None:
    Y, S = _random_case(4)
    P = np.zeros_like(Y)
    assert evaluate(Y, S, P).metrics["micro_recall"] == 0.0
    P = (S >= 0.3).astype(np.uint8)
    expected = skm.f1_score(Y, P, average="micro")
    assert evaluate(Y, S, sp.csr_matrix(P)).metrics["micro_f1"] == pytest.approx(expected)
    with pytest.raises(DataFormatError, match="Y_pred has shape"):
        evaluate(Y, S, P[:, :2])


# ---- metric names -----------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "expected"), [
    ("micro_f1", "micro_f1"), ("P@5", "precision_at_5"), ("nDCG@5", "ndcg_at_5"),
    (" Hamming_Loss ", "hamming_loss"), ("precision@3", "precision_at_3"),
])
def test_parse_metric_name(given: str, expected: str) -> None:
    assert parse_metric_name(given) == expected


def test_parse_metric_names_and_unknown() -> None:
    assert parse_metric_names("micro_f1, P@1,micro_f1") == ["micro_f1", "precision_at_1"]
    assert parse_metric_name("P@7", allow_any_k=True) == "precision_at_7"
    with pytest.raises(ConfigError, match="unknown metric 'accuracy'; valid names are: "
                                          "hamming_loss, label_accuracy"):
        parse_metric_name("accuracy")
    with pytest.raises(ConfigError, match="unknown metric 'P@7'"):
        parse_metric_names(["P@7"])
    assert not greater_is_better("hamming_loss") and greater_is_better("P@1")


# ---- bad input --------------------------------------------------------------------------------

def test_shape_mismatch() -> None:
    with pytest.raises(DataFormatError, match=r"Y_true has shape \(3, 4\) but scores has shape "
                                              r"\(3, 3\); they must agree"):
        evaluate(Y_HAND, S_HAND[:, :3])


def test_non_binary_y_true() -> None:
    with pytest.raises(DataFormatError, match="Y_true must hold only 0 and 1; got 2"):
        evaluate(Y_HAND * 2, S_HAND)


def test_nan_scores() -> None:
    S = S_HAND.copy()
    S[1, 2] = np.nan
    with pytest.raises(DataFormatError, match=r"scores must be finite; got NaN or inf \(first in "
                                              r"row 1\)"):
        evaluate(Y_HAND, S)


def test_scores_not_probabilities_without_y_pred() -> None:
    with pytest.raises(ConfigError, match="pass Y_pred explicitly"):
        evaluate(Y_HAND, S_HAND * 3)


def test_one_dimensional_and_empty_inputs() -> None:
    with pytest.raises(DataFormatError, match="Y_true must be 2-D"):
        evaluate(Y_HAND[:, 0], S_HAND[:, 0])
    with pytest.raises(DataFormatError, match="at least one row"):
        evaluate(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(DataFormatError, match="2 label names given for 4 labels"):
        evaluate(Y_HAND, S_HAND, label_names=["a", "b"])


# ---- properties -------------------------------------------------------------------------------

@st.composite
def _cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 12))
    n_labels = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, n_labels)) < draw(st.floats(0, 1))).astype(np.uint8)
    S = np.round(rng.random((n, n_labels)), draw(st.integers(0, 3)))
    return Y, S


@settings(max_examples=30, deadline=None)
@given(_cases())
def test_metrics_stay_in_range(case: tuple[np.ndarray, np.ndarray]) -> None:
    Y, S = case
    report = evaluate(Y, S)
    for name, value in report.metrics.items():
        if value is None:
            continue
        assert math.isfinite(value), name
        if name == "coverage_error":
            assert 0 <= value <= Y.shape[1]
        elif name == "loss":
            assert value >= 0
        else:
            assert -1e-12 <= value <= 1 + 1e-12, name
    json.dumps(report.as_dict())


def test_report_is_frozen() -> None:
    report = evaluate(Y_HAND, S_HAND)
    assert isinstance(report, Report)
    with pytest.raises(AttributeError):
        report.metrics = {}  # type: ignore[misc]



@pytest.mark.parametrize("seed", range(6))
def test_vectorised_lrap_equals_scikit_learn(seed: int) -> None:
    from multitag.metrics.ranking import lrap

    rng = np.random.default_rng(seed)
    for _ in range(50):
        n, n_labels = int(rng.integers(1, 25)), int(rng.integers(1, 9))
        Y = rng.random((n, n_labels)) < rng.random()
        S = rng.integers(0, 4, (n, n_labels)) / 3 if seed % 2 else rng.random((n, n_labels))
        assert lrap(Y, S) == pytest.approx(
            skm.label_ranking_average_precision_score(Y, S), abs=1e-12)
