"""compare, learning curves, the bias/variance sentence and the PNG."""

from __future__ import annotations

import re

import numpy as np
import pytest

from multitag.data import Dataset, load
from multitag.exceptions import ConfigError, DataFormatError
from multitag.metrics.names import metric_names
from multitag.pipeline.compare import (
    CompareResult,
    CompareRow,
    Step,
    compare,
    parse_models,
)
from multitag.pipeline.curve import CurvePoint, CurveResult, diagnose, learning_curve
from multitag.report.curves import plot_curve

FAST = ["br-lr", "knn", "mlknn"]


@pytest.fixture(scope="module")
def pair() -> tuple[Dataset, Dataset]:
    """200 training and 100 test rows of a noisy linear 4-label rule."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    Y = (X @ rng.normal(size=(6, 4)) + rng.normal(scale=0.5, size=(300, 4)) > 0).astype(np.uint8)
    names, labels = [f"f{i}" for i in range(X.shape[1])], ["a", "b", "c", "d"]
    return (Dataset(X[:200], Y[:200], names, labels, name="tiny"),
            Dataset(X[200:], Y[200:], names, labels, name="tiny-test"))


def test_compare_rows_metrics_and_json(pair) -> None:
    result = compare(*pair, FAST, seed=0)
    assert result.models == FAST and result.n_train == 200 and result.n_test == 100
    assert result.dataset == "tiny"
    for row in result.rows:
        assert set(metric_names()) <= set(row.metrics)
        assert row.fit_seconds >= 0 and row.predict_seconds >= 0
        assert row.metrics["micro_f1"] > 0.5
    payload = result.metrics_json()
    assert set(payload) == set(FAST)
    assert payload["knn"]["fit_seconds"] == result.row("knn").fit_seconds
    assert result.conventions and result.notices == []


def test_constant_training_labels_get_a_notice(pair) -> None:
    train, test = pair
    Y = train.Y.copy()
    Y[:, 1], Y[:, 3] = 0, 1
    flat = Dataset(train.X, Y, train.feature_names, train.label_names, name="flat")
    result = compare(flat, test, ["knn"])
    assert result.notices == [
        "1 label(s) never positive in training, predicted 0 by every model: b",
        "1 label(s) always positive in training, predicted 1 by every model: d"]


def test_progress_reports_every_stage_in_order(pair) -> None:
    steps: list[Step] = []
    compare(*pair, ["knn", "mlknn"], progress=steps.append)
    assert [(s.model, s.stage) for s in steps] == [
        ("knn", "fit"), ("knn", "predict"), ("knn", "done"),
        ("mlknn", "fit"), ("mlknn", "predict"), ("mlknn", "done")]
    assert {s.total for s in steps} == {2}


def test_params_reach_the_model_and_seed_repeats(pair) -> None:
    first = compare(*pair, ["mlp"], seed=1, params={"mlp": {"epochs": 2}})
    again = compare(*pair, ["mlp"], seed=1, params={"mlp": {"epochs": 2}})
    assert first.row("mlp").metrics == again.row("mlp").metrics


def test_unknown_model_fails_before_fitting(pair) -> None:
    with pytest.raises(ConfigError, match="unknown model 'nope'; valid names are"):
        compare(*pair, ["knn", "nope"])
    with pytest.raises(ConfigError, match="no model names"):
        parse_models(" , ")


def test_mismatched_labels_are_an_error(pair) -> None:
    train, test = pair
    other = Dataset(test.X, test.Y, test.feature_names, ["a", "b", "c", "z"])
    with pytest.raises(DataFormatError, match="same labels"):
        compare(train, other, ["knn"])


def test_text_data_becomes_tfidf_features() -> None:
    words = ["apple pie", "banana bread", "apple tart", "banana split", "cherry pie",
             "apple crumble", "banana cake", "cherry tart"] * 4
    Y = np.array([[("apple" in w), ("banana" in w)] for w in words], dtype=np.uint8)
    data = Dataset(np.zeros((len(words), 0)), Y, [], ["apple", "banana"], texts=words)
    result = compare(data, data, ["br-lr"])
    assert result.row("br-lr").metrics["micro_f1"] == 1.0


def _result(values: dict[str, tuple[float | None, float | None, float]]) -> CompareResult:
    rows = [CompareRow(m, {"micro_f1": f1, "hamming_loss": hl}, fit, 0.1)
            for m, (f1, hl, fit) in values.items()]
    return CompareResult(rows)


def test_best_per_column_knows_the_direction_and_ties() -> None:
    result = _result({"a": (0.7, 0.2, 3.0), "b": (0.8, 0.3, 1.0), "c": (0.8, None, 2.0)})
    best = result.best_per_column()
    assert best["micro_f1"] == ["b", "c"]
    assert best["hamming_loss"] == ["a"]
    assert best["fit_seconds"] == ["b"]
    assert best["predict_seconds"] == ["a", "b", "c"]
    assert _result({"a": (None, None, 1.0)}).best_per_column(["micro_f1"]) == {"micro_f1": []}


# --------------------------------------------------------------------------- learning curves
def test_learning_curve_points(pair) -> None:
    curve = learning_curve(*pair, ["knn", "mlknn"], fractions=(1.0, 0.2, 0.5), seed=0)
    assert curve.models == ["knn", "mlknn"] and curve.metric == "micro_f1"
    sizes = [p.n_train for p in curve.for_model("knn")]
    assert sizes == [40, 100, 200]
    assert all(p.train_score is not None and p.test_score is not None for p in curve.points)
    assert curve.as_dict()["points"][0]["model"] == "knn"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fractions": (0.0, 0.5)}, r"fractions must be in \(0, 1\]"),
    ({"fractions": (1.5,)}, r"fractions must be in \(0, 1\]"),
    ({"metric": "coverage_error"}, "bounded in"),
    ({"metric": "f2"}, "unknown metric"),
])
def test_learning_curve_bad_input(pair, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        learning_curve(*pair, ["knn"], **kwargs)


def _curve(metric: str, scores: dict[str, tuple[float, float]]) -> CurveResult:
    points = [CurvePoint(m, 1.0, 100, train, test) for m, (train, test) in scores.items()]
    return CurveResult(metric, points, dataset="toy")


def test_diagnose_variance_bias_and_neither_in_one_sentence() -> None:
    text = diagnose(_curve("micro_f1", {"net": (0.98, 0.60), "svm": (0.55, 0.52),
                                        "ok": (0.90, 0.86), "both": (0.75, 0.55)}))
    assert text.endswith(".") and not re.search(r"\.\s+[A-Z]", text)  # one sentence
    assert "net looks like high variance" in text
    assert "svm looks like high bias" in text
    assert "ok shows neither" in text
    assert "both looks like high variance and some bias too" in text
    assert text.startswith("At the full training set on toy (micro_f1)")


def test_diagnose_a_lower_is_better_metric() -> None:
    text = diagnose(_curve("hamming_loss", {"net": (0.01, 0.25), "svm": (0.30, 0.31)}))
    assert "net looks like high variance" in text and "svm looks like high bias" in text


def test_plot_curve_writes_a_png(tmp_path) -> None:
    curve = CurveResult("micro_f1", [
        CurvePoint(m, f, int(100 * f), 0.9, 0.5 + 0.2 * f) for m in ("mlp", "br-svm")
        for f in (0.25, 0.5, 1.0)], dataset="toy")
    path = plot_curve(curve, tmp_path / "sub" / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- real data
@pytest.mark.slow
def test_emotions_end_to_end(shared_data) -> None:
    base = shared_data / "mulan" / "emotions"
    train, test = load(base / "emotions-train.arff"), load(base / "emotions-test.arff")
    result = compare(train, test, [*FAST, "mlp"], params={"mlp": {"epochs": 20}})
    for row in result.rows:
        assert row.metrics["micro_f1"] > 0.55, row.model
        assert row.metrics["hamming_loss"] < 0.3, row.model
    assert result.best_per_column(["micro_f1"])["micro_f1"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yeast", "medical"])
def test_compare_mlp_row_is_what_train_saves(shared_data, tmp_path, capsys, name) -> None:
    """`multitag compare --models mlp` scores exactly the model `multitag train` saves, as
    `multitag evaluate` scores it (same seed, same split)."""
    import json

    from multitag.cli import main

    folder = shared_data / "mulan" / name
    train_file, test_file = folder / f"{name}-train.arff", folder / f"{name}-test.arff"

    def run(*args: object) -> None:
        with pytest.raises(SystemExit) as done:
            main([str(a) for a in args])
        assert done.value.code == 0, capsys.readouterr().err

    run("compare", train_file, "--test", test_file, "--models", "mlp,mlp-classic",
        "--metrics-json", tmp_path / "compare.json", "--quiet")
    run("train", train_file, "--out", tmp_path / "model", "--quiet")
    run("evaluate", tmp_path / "model", test_file, "--metrics-json", tmp_path / "eval.json")
    compared = json.loads((tmp_path / "compare.json").read_text())
    evaluated = json.loads((tmp_path / "eval.json").read_text())
    for metric in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss"):
        assert compared["mlp"][metric] == pytest.approx(evaluated[metric], abs=1e-9)
    assert compared["mlp"]["decision_rule"].endswith("(tuned)")
    assert compared["mlp-classic"]["decision_rule"] == "fixed 0.5"
    assert compared["mlp"]["micro_f1"] != compared["mlp-classic"]["micro_f1"]
