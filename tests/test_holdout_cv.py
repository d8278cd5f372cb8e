"""Test rows for any file: --test-size, a split the file records, cross-validation, and the
held-out estimate when there is no test set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from multitag.cli import main
from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError
from multitag.pipeline.cv import CVResult, cross_validate
from multitag.pipeline.holdout import hold_out, read_pair


@pytest.fixture(scope="module")
def data() -> Dataset:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 5)).astype(np.float32)
    Y = (X[:, :3] + rng.normal(scale=0.6, size=(150, 3)) > 0).astype(np.uint8)
    return Dataset(X, Y, [f"f{i}" for i in range(5)], ["a", "b", "c"], name="toy")


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory, data) -> str:
    path = tmp_path_factory.mktemp("holdout") / "toy.csv"
    rows = ["f0,f1,f2,f3,f4,a,b,c"] + [
        ",".join([*(f"{v:.4f}" for v in x), *(str(v) for v in y)])
        for x, y in zip(data.X, data.Y)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _cli(capsys, *args: object) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code, capsys.readouterr().err


def test_test_size_holds_out_a_stratified_share(data) -> None:
    split = hold_out(data, test_size=0.2, seed=3)
    assert split.train.n_samples + split.test.n_samples == 150 and split.test.n_samples == 30
    assert "held out 30 of 150 rows" in split.notices[0]
    shares = split.test.Y.mean(axis=0) / np.maximum(data.Y.mean(axis=0), 1e-9)
    assert np.all(np.abs(shares - 1) < 0.35)  # every label's rate kept (stratified)
    again = hold_out(data, test_size=0.2, seed=3)
    np.testing.assert_array_equal(again.test.X, split.test.X)


def test_a_recorded_split_is_used_with_a_notice(data) -> None:
    from dataclasses import replace

    recorded = replace(data, split_rows=100)
    split = hold_out(recorded)
    assert (split.train.n_samples, split.test.n_samples) == (100, 50)
    np.testing.assert_array_equal(split.test.X, data.X[100:])
    assert "records a train/test split: its first 100 rows train" in split.notices[0]
    assert hold_out(recorded, recorded=False).test is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"test_size": 0.0}, r"must be a number in \(0, 1\)"),
    ({"test_size": 1.5}, r"must be a number in \(0, 1\)"),
    ({"test_size": 0.5, "test": "x"}, "not both"),
])
def test_bad_test_size(data, kwargs, message) -> None:
    test = data if kwargs.pop("test", None) else None
    with pytest.raises(ConfigError, match=message):
        hold_out(data, test, **kwargs)


def test_too_few_rows_to_hold_out(data) -> None:
    with pytest.raises(DataFormatError, match="too few to hold out"):
        hold_out(data.subset(range(2)), test_size=0.3)


def test_compare_needs_a_test_set(csv_file) -> None:
    from multitag.data.registry import ReaderOptions

    with pytest.raises(ConfigError, match="a test set is needed"):
        read_pair(csv_file, ReaderOptions(label_columns=("a", "b", "c")))


def test_cross_validation_mean_and_spread(data) -> None:
    result = cross_validate(data, ["br-lr", "knn"], folds=3, seed=0)
    assert isinstance(result, CVResult) and result.models == ["br-lr", "knn"]
    row = result.rows[0]
    values = [fold.metrics["micro_f1"] for fold in row.folds]
    assert len(values) == 3 and row.value("micro_f1") == pytest.approx(np.mean(values))
    assert row.spread("micro_f1") == pytest.approx(np.std(values, ddof=1))
    payload = result.metrics_json()
    assert payload["knn"]["std"]["micro_f1"] == pytest.approx(result.rows[1].spread("micro_f1"))
    assert len(payload["knn"]["folds"]) == 3


def test_cli_train_without_a_test_writes_the_held_out_estimate(capsys, csv_file,
                                                              tmp_path) -> None:
    code, err = _cli(capsys, "train", csv_file, "--label-columns", "a,b,c", "--out",
                     tmp_path / "m", "--epochs", "3", "--metrics-json", tmp_path / "m.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["estimate"].startswith("out-of-fold") and metrics["estimate_rows"] == 150
    assert 0 <= metrics["micro_f1"] <= 1 and "fit_seconds" in metrics


def test_cli_train_and_compare_with_test_size(capsys, csv_file, tmp_path) -> None:
    code, err = _cli(capsys, "train", csv_file, "--label-columns", "a,b,c", "--out",
                     tmp_path / "m", "--epochs", "3", "--test-size", "0.2",
                     "--metrics-json", tmp_path / "m.json")
    assert code == 0, err
    assert "held out 30 of 150 rows" in err
    assert "estimate" not in json.loads((tmp_path / "m.json").read_text())
    code, err = _cli(capsys, "compare", csv_file, "--label-columns", "a,b,c", "--test-size",
                     "0.2", "--models", "br-lr", "--metrics-json", tmp_path / "c.json",
                     "--quiet")
    assert code == 0, err
    assert "br-lr" in json.loads((tmp_path / "c.json").read_text())


@pytest.mark.parametrize("args", [
    ["train", "--test-size", "1.5"], ["train", "--test-size", "0"],
    ["cv", "--folds", "1"], ["cv", "--folds", "151"],
    ["compare", "--models", "br-lr"],  # no test set
])
def test_bad_splits_are_one_line_exit_2_and_write_nothing(capsys, csv_file, tmp_path,
                                                          args) -> None:
    command, *rest = args
    out = ["--out", tmp_path / "m"] if command == "train" else []
    code, err = _cli(capsys, command, csv_file, "--label-columns", "a,b,c", *out, *rest,
                     "--metrics-json", tmp_path / "m.json")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "m").exists()


def test_cli_cv_prints_mean_and_spread(capsys, csv_file, tmp_path) -> None:
    with pytest.raises(SystemExit) as done:
        main(["cv", csv_file, "--label-columns", "a,b,c", "--folds", "3", "--models",
              "br-lr,mlp", "--metrics-json", str(tmp_path / "cv.json"), "--quiet"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "150 rows in 3 label-stratified folds" in out and " ± " in out
    payload = json.loads((tmp_path / "cv.json").read_text())
    assert payload["mlp"]["n_folds"] == 3 and "(tuned)" in payload["mlp"]["decision_rule"]
