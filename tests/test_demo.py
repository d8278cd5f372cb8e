"""The classic example: library function, CLI end to end, reproducibility, bad flags."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from multitag.demo.classic import demo_config, run_demo, split_like_sklearn
from multitag.exceptions import ConfigError

DESIGN_METRICS = {
    "hamming_loss", "label_accuracy", "subset_accuracy", "micro_f1", "macro_f1", "samples_f1",
    "micro_precision", "micro_recall", "jaccard_samples", "roc_auc_micro", "roc_auc_macro",
    "average_precision_micro", "lrap", "ranking_loss", "coverage_error", "one_error",
    "precision_at_1", "precision_at_3", "precision_at_5", "ndcg_at_5", "loss",
    "fit_seconds", "predict_seconds", "bayes_label_accuracy", "bayes_subset_accuracy",
}


@pytest.mark.parametrize(("n", "test_size", "seed"), [(10_000, 0.33, 42), (97, 0.2, 3)])
def test_split_matches_scikit_learn(n: int, test_size: float, seed: int) -> None:
    train, test = split_like_sklearn(n, test_size, seed)
    rows = np.arange(n)
    expected_train, expected_test = train_test_split(rows, test_size=test_size,
                                                     random_state=seed)
    np.testing.assert_array_equal(train, expected_train)
    np.testing.assert_array_equal(test, expected_test)


def test_short_demo_learns_and_reports_bayes_reference() -> None:
    result = run_demo(demo_config(epochs=5, seed=1))
    assert len(result.history) == 5
    assert (result.n_train, result.n_valid, result.n_test) == (5360, 1340, 3300)
    assert result.bayes["label_accuracy"] == pytest.approx(0.8659, abs=1e-4)
    assert 0.6 < result.metrics["label_accuracy"] <= 1.0
    assert result.metrics["label_accuracy"] == pytest.approx(1 - result.metrics["hamming_loss"])
    assert set(result.gaps()) == {"label_accuracy", "subset_accuracy"}


def test_same_seed_same_numbers() -> None:
    a = run_demo(demo_config(epochs=3, seed=5, samples=2000))
    b = run_demo(demo_config(epochs=3, seed=5, samples=2000))
    c = run_demo(demo_config(epochs=3, seed=6, samples=2000))
    drop = {"fit_seconds", "predict_seconds"}
    assert {k: v for k, v in a.metrics.items() if k not in drop} == \
        {k: v for k, v in b.metrics.items() if k not in drop}
    assert a.metrics["loss"] != c.metrics["loss"]


def test_many_classes_skip_the_bayes_reference() -> None:
    result = run_demo(demo_config(epochs=1, samples=500, classes=13, labels=3))
    assert result.bayes is None and "skipped" in result.bayes_skipped_reason


@pytest.mark.parametrize(("overrides", "message"), [
    ({"validation_split": 1.0}, r"`--validation-split` .*must be a number in"),
    ({"samples": -5}, "`--samples` must be a positive integer"),
    ({"classes": 0}, "`--classes` must be a positive integer"),
])
def test_bad_config(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        demo_config(**overrides)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'fast'; valid"):
        demo_config("fast")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "multitag", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_cli_demo_end_to_end(tmp_path) -> None:
    out = tmp_path / "m.json"
    done = _cli("demo", "--epochs", "5", "--metrics-json", str(out))
    assert done.returncode == 0, done.stderr
    assert "label accuracy" in done.stdout and "Bayes-optimal" in done.stdout
    assert "Keras" in done.stdout and "epoch" in done.stderr
    metrics = json.loads(out.read_text())
    assert set(metrics) >= DESIGN_METRICS
    assert metrics["config"]["epochs"] == 5


@pytest.mark.slow
def test_cli_quiet_prints_no_progress() -> None:
    done = _cli("demo", "--epochs", "2", "--quiet", "--samples", "1000")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("args", [
    ["--samples", "-3"], ["--hidden", "32,x"], ["--hidden", "32,0"], ["--hidden", ""],
    ["--validation-split", "1.5"], ["--classes", "0"], ["--labels", "0"], ["--epochs", "abc"],
    ["--no-such-flag"],
])
def test_cli_bad_flags_one_line_exit_2(args: list[str]) -> None:
    done = _cli("demo", *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("spec", [
    {}, {"n_samples": 500, "n_features": 20, "n_classes": 13, "n_labels": 3, "random_state": 1},
    {"n_samples": 300, "n_features": 5, "n_classes": 9, "n_labels": 4, "length": 3,
     "allow_unlabeled": False, "random_state": 7},
])
def test_synthetic_data_equals_scikit_learns(spec: dict) -> None:
    """The generator draws exactly what make_multilabel_classification draws (the classic
    example's data), without importing scikit-learn."""
    from sklearn.datasets import make_multilabel_classification

    from multitag.data.synthetic import SyntheticSpec, make_synthetic

    ours = SyntheticSpec(**spec)
    data, dist = make_synthetic(ours)
    X, Y, p_c, p_w_c = make_multilabel_classification(
        n_samples=ours.n_samples, n_features=ours.n_features, n_classes=ours.n_classes,
        n_labels=ours.n_labels, length=ours.length, allow_unlabeled=ours.allow_unlabeled,
        return_indicator="dense", return_distributions=True, random_state=ours.random_state)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.Y, Y)
    np.testing.assert_allclose(dist.p_c, p_c, rtol=0, atol=0)
    np.testing.assert_allclose(dist.p_w_c, p_w_c, rtol=0, atol=0)
