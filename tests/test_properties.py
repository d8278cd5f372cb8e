"""Property-based tests (hypothesis): readers round-trip random small datasets, tuned decision
rules never lose to 0.5 on their own data, metrics stay in range and agree with scikit-learn.

Kept small (`max_examples` 25-60) so the file runs in well under 30 s.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from multitag.data import load
from multitag.decision import (
    OBJECTIVES,
    AtLeastOne,
    GlobalThreshold,
    PerLabelThreshold,
    TopK,
    objective_value,
    rule_from_dict,
)
from multitag.metrics.evaluation import evaluate

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- strategies
@st.composite
def label_matrices(draw: st.DrawFn, min_rows: int = 1, max_rows: int = 12,
                   max_labels: int = 6) -> np.ndarray:
    """0/1 matrices, often with all-empty rows or columns (and sometimes all zero or all one)."""
    n = draw(st.integers(min_rows, max_rows))
    q = draw(st.integers(1, max_labels))
    kind = draw(st.sampled_from(["random", "random", "zeros", "ones", "sparse"]))
    if kind == "zeros":
        return np.zeros((n, q), dtype=np.uint8)
    if kind == "ones":
        return np.ones((n, q), dtype=np.uint8)
    density = 0.15 if kind == "sparse" else 0.45
    seed = draw(st.integers(0, 2**32 - 1))
    return (np.random.default_rng(seed).random((n, q)) < density).astype(np.uint8)


@st.composite
def labels_and_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Y and probabilities of its shape; rounding makes ties, and 0.5 itself occurs."""
    Y = draw(label_matrices())
    seed = draw(st.integers(0, 2**32 - 1))
    S = np.random.default_rng(seed).random(Y.shape)
    signal = draw(st.sampled_from([0.0, 0.3, 0.8]))
    S = np.clip((1 - signal) * S + signal * Y, 0, 1)
    decimals = draw(st.sampled_from([None, 2, 1, 0]))
    return Y, (S if decimals is None else np.round(S, decimals))


_FLOAT32 = st.floats(-1e4, 1e4, allow_nan=False, width=32).filter(lambda v: v != 0)


@st.composite
def numeric_datasets(draw: st.DrawFn, missing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 with some exact zeros, and NaN if `missing`; Y 0/1 with at least 1 label)."""
    n = draw(st.integers(1, 8))
    d = draw(st.integers(1, 5))
    values = draw(st.lists(_FLOAT32, min_size=n * d, max_size=n * d))
    X = np.array(values, dtype=np.float32).reshape(n, d)
    mask = np.array(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=n * d,
                                  max_size=n * d))).reshape(n, d)
    X[mask == 0] = 0.0
    if missing:
        X[mask == 2] = np.nan
    Y = draw(label_matrices(min_rows=n, max_rows=n, max_labels=4))
    return X, Y


# --------------------------------------------------------------------------- readers
def _write_arff(path: Path, X: np.ndarray, Y: np.ndarray, sparse: bool) -> None:
    q = Y.shape[1]
    lines = [f"@relation 'random: -C -{q}'"]
    lines += [f"@attribute 'x {j}' numeric" for j in range(X.shape[1])]
    lines += [f"@attribute lab{j} {{0,1}}" for j in range(q)]
    lines.append("@data")
    for x, y in zip(X, Y):
        cells = ["?" if math.isnan(v) else repr(float(v)) for v in x] + [str(int(v)) for v in y]
        if sparse:
            values = [*x.tolist(), *y.tolist()]
            lines.append("{" + ",".join(f"{i} {cells[i]}" for i, v in enumerate(values)
                                        if v != 0) + "}")
        else:
            lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


@SETTINGS
@given(numeric_datasets(missing=True), st.booleans())
def test_arff_round_trip(case: tuple[np.ndarray, np.ndarray], sparse: bool) -> None:
    X, Y = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.arff"
        _write_arff(path, X, Y, sparse)
        data = load(path)
    assert data.feature_names == [f"x {j}" for j in range(X.shape[1])]
    assert data.label_names == [f"lab{j}" for j in range(Y.shape[1])]
    np.testing.assert_array_equal(_dense(data.X).astype(np.float32), X)
    np.testing.assert_array_equal(_dense(data.Y), Y)


@SETTINGS
@given(numeric_datasets())
def test_svmlight_round_trip_through_scikit_learn_writer(
        case: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.datasets import dump_svmlight_file

    X, Y = case
    used_rows = (X != 0).any(axis=1) | Y.any(axis=1)  # a row with neither is a blank line
    X, Y = X[used_rows], Y[used_rows]
    if not len(X):
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.svm"
        dump_svmlight_file(X, Y, str(path), zero_based=False, multilabel=True)
        data = load(path)
    width = int(np.flatnonzero((X != 0).any(axis=0)).max()) + 1 if (X != 0).any() else 0
    np.testing.assert_array_equal(_dense(data.X), X[:, :width])
    present = np.flatnonzero(Y.any(axis=0))  # labels are named by the ids that occur
    assert data.label_names == [str(j) for j in present]
    np.testing.assert_array_equal(_dense(data.Y), Y[:, present])


@SETTINGS
@given(numeric_datasets(missing=True), st.sampled_from([",", "\t"]))
def test_csv_round_trip_through_pandas_writer(case: tuple[np.ndarray, np.ndarray],
                                              sep: str) -> None:
    import pandas as pd

    X, Y = case
    frame = pd.DataFrame(X.astype(np.float64), columns=[f"feat {j}" for j in range(X.shape[1])])
    for j in range(Y.shape[1]):
        frame[f"y_{j}"] = Y[:, j]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("random.csv" if sep == "," else "random.tsv")
        frame.to_csv(path, sep=sep, index=False)
        data = load(path, label_prefix="y_")
    assert data.feature_names == [f"feat {j}" for j in range(X.shape[1])]
    np.testing.assert_array_equal(data.X.astype(np.float32), X)
    np.testing.assert_array_equal(data.Y, Y)


_WORD = st.text("abcdefgh-_é", min_size=1, max_size=6)


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=30), st.lists(_WORD, max_size=3)),
                min_size=1, max_size=8))
def test_jsonl_round_trip(records: list[tuple[str, list[str]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.jsonl"
        path.write_text("".join(json.dumps({"text": t, "labels": ls}) + "\n"
                                for t, ls in records), encoding="utf-8")
        data = load(path)
    assert data.texts == [t for t, _ in records]
    names = sorted({label for _, ls in records for label in ls})
    assert data.label_names == names
    expected = [[int(n in ls) for n in names] for _, ls in records]
    np.testing.assert_array_equal(data.Y, np.array(expected, dtype=np.uint8).reshape(
        len(records), len(names)))


def _dense(M: object) -> np.ndarray:
    return M.toarray() if hasattr(M, "toarray") else np.asarray(M)


# --------------------------------------------------------------------------- decision rules
def _not_worse(objective: str, tuned: float, fixed: float) -> bool:
    return tuned <= fixed + 1e-12 if objective == "hamming" else tuned >= fixed - 1e-12


@SETTINGS
@given(labels_and_scores(), st.sampled_from(OBJECTIVES), st.booleans())
def test_tuned_thresholds_never_lose_to_half_on_their_own_data(
        case: tuple[np.ndarray, np.ndarray], objective: str, per_label: bool) -> None:
    Y, S = case
    rule = (PerLabelThreshold if per_label else GlobalThreshold)(objective=objective).fit(Y, S)
    tuned = objective_value(objective, Y, rule.predict(S))
    fixed = objective_value(objective, Y, (S >= 0.5).astype(np.uint8))
    assert _not_worse(objective, tuned, fixed), (tuned, fixed)
    again = rule_from_dict(json.loads(json.dumps(rule.to_dict())))
    np.testing.assert_array_equal(again.predict(S), rule.predict(S))


@SETTINGS
@given(labels_and_scores(), st.integers(1, 8))
def test_top_k_and_at_least_one(case: tuple[np.ndarray, np.ndarray], k: int) -> None:
    Y, S = case
    k = min(k, S.shape[1])  # a larger k is a ConfigError
    top = TopK(k=k).predict(S)
    assert (top.sum(axis=1) == k).all()
    lowest_kept = np.where(top == 1, S, np.inf).min(axis=1)
    highest_dropped = np.where(top == 0, S, -np.inf).max(axis=1)
    assert (lowest_kept >= highest_dropped).all()  # the K chosen are the K most probable
    base = GlobalThreshold("micro_f1").fit(Y, S)
    forced = AtLeastOne(base).fit(Y, S).predict(S)
    assert forced.any(axis=1).all()
    plain = base.predict(S)
    keep = plain.any(axis=1)
    np.testing.assert_array_equal(forced[keep], plain[keep])


# --------------------------------------------------------------------------- metrics
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels_and_scores())
def test_metrics_in_range_and_equal_to_scikit_learn(case: tuple[np.ndarray, np.ndarray]) -> None:
    Y, S = case
    P = (S >= 0.5).astype(np.uint8)
    m = evaluate(Y, S).metrics
    for name, value in m.items():
        if value is None:
            continue
        assert math.isfinite(value), name
        upper = Y.shape[1] if name == "coverage_error" else math.inf if name == "loss" else 1
        assert -1e-12 <= value <= upper + 1e-12, (name, value)
    zd = {"zero_division": 0}
    # scikit-learn takes one column as binary, not multi-label: a second column never true,
    # never predicted and ranked last changes no row's value (the documented convention)
    Yw, Pw, Sw = Y, P, S
    if Y.shape[1] == 1:
        Yw, Pw = (np.pad(A, ((0, 0), (0, 1))) for A in (Y, P))
        Sw = np.pad(S, ((0, 0), (0, 1)), constant_values=S.min() - 1)
    expected = {
        "hamming_loss": skm.hamming_loss(Y, P),
        "subset_accuracy": skm.accuracy_score(Yw, Pw),
        "micro_f1": skm.f1_score(Yw, Pw, average="micro", **zd),
        "samples_f1": skm.f1_score(Yw, Pw, average="samples", **zd),
        "micro_precision": skm.precision_score(Yw, Pw, average="micro", **zd),
        "micro_recall": skm.recall_score(Yw, Pw, average="micro", **zd),
        "jaccard_samples": skm.jaccard_score(Yw, Pw, average="samples", **zd),
        "lrap": skm.label_ranking_average_precision_score(Yw, Sw),
        "ranking_loss": skm.label_ranking_loss(Yw, Sw),
        "coverage_error": skm.coverage_error(Yw, Sw),
    }
    present = np.flatnonzero(Y.any(axis=0))
    expected["macro_f1"] = (skm.f1_score(Yw, Pw, average="macro", labels=present, **zd)
                            if present.size else None)
    both = np.flatnonzero(Y.any(axis=0) & ~Y.all(axis=0))
    expected["roc_auc_macro"] = (skm.roc_auc_score(Y[:, both], S[:, both], average="macro")
                                 if both.size else None)
    one_class = Y.all() or not Y.any()
    expected["roc_auc_micro"] = None if one_class else skm.roc_auc_score(Y, S, average="micro")
    expected["average_precision_micro"] = (
        skm.average_precision_score(Y, S, average="micro") if Y.any() else None)
    expected["loss"] = skm.log_loss(Y.ravel(), np.clip(S.ravel(), 1e-7, 1 - 1e-7),
                                    labels=[0, 1])
    for name, value in expected.items():
        if value is None:
            assert m[name] is None, name
        else:
            assert m[name] == pytest.approx(float(value), abs=1e-9), name
    assert m["label_accuracy"] == pytest.approx(1 - m["hamming_loss"], abs=1e-12)


# --------------------------------------------------------------------------- fuzzed text files
_CSV_SEED = "id,size,colour,note,lab_a,lab_b\n1,1.5,red,first row,1,0\n2,2.5,blue,x,0,1\n"
_JSONL_SEED = '{"text": "a b", "labels": ["x"]}\n{"text": "c", "labels": ["x", "y"]}\n'
_PIECES = [*list(',"\n\r\t 0123456789.-e{}[]:|'), "nan", "inf", "1e999", "\x00", "\ufeff", "é",
           '"a,b"', "\\u0000", "null", "true", "?"]


@SETTINGS
@given(st.sampled_from(["csv", "tsv", "jsonl"]),
       st.lists(st.tuples(st.floats(0, 1), st.sampled_from(_PIECES), st.booleans()),
                min_size=1, max_size=5))
def test_mutated_csv_and_jsonl_load_or_raise_a_format_error(
        kind: str, edits: list[tuple[float, str, bool]]) -> None:
    """Any damage gives Datasets or a DataFormatError naming the file, nothing else (read whole
    and in chunks)."""
    from multitag.exceptions import DataFormatError

    text = _JSONL_SEED if kind == "jsonl" else _CSV_SEED
    text = text.replace(",", "\t") if kind == "tsv" else text
    for where, piece, insert in edits:
        i = int(where * len(text))
        text = text[:i] + piece + text[i + (0 if insert else 1):]
    from multitag.data.chunks import iter_chunks
    from multitag.data.registry import ReaderOptions

    options = ReaderOptions() if kind == "jsonl" else ReaderOptions(label_prefix="lab_")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz.{kind}"
        path.write_text(text, encoding="utf-8")
        for read in (lambda: [load(path, options)],  # whole file, and streamed in chunks
                     lambda: list(iter_chunks(path, options, chunk_rows=1)),
                     lambda: list(iter_chunks(path, options, chunk_rows=2, with_labels=False))):
            try:
                parts = read()
            except DataFormatError as err:
                assert str(err).startswith(str(path)), err
                assert "\n" not in str(err).strip(), err
                continue
            assert sum(part.n_samples for part in parts) > 0
