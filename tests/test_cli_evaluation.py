"""`multitag compare` and `multitag curve`, run in-process through the console entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multitag.cli import main
from multitag.metrics.names import metric_names


@pytest.fixture(scope="module")
def csv_pair(tmp_path_factory) -> tuple[Path, Path]:
    """Train and test CSV files: 5 features, labels in columns tag_a, tag_b, tag_c."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(240, 5))
    Y = (X @ rng.normal(size=(5, 3)) + rng.normal(scale=0.4, size=(240, 3)) > 0).astype(int)
    folder = tmp_path_factory.mktemp("csv")
    header = ",".join([f"f{i}" for i in range(5)] + ["tag_a", "tag_b", "tag_c"])
    paths = []
    for name, rows in (("train.csv", slice(0, 160)), ("test.csv", slice(160, 240))):
        lines = [",".join([*(f"{v:.5f}" for v in x), *(str(v) for v in y)])
                 for x, y in zip(X[rows], Y[rows])]
        (folder / name).write_text("\n".join([header, *lines]) + "\n")
        paths.append(folder / name)
    return paths[0], paths[1]


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return int(done.value.code or 0)


def _data_args(csv_pair: tuple[Path, Path]) -> list[str]:
    return [str(csv_pair[0]), "--test", str(csv_pair[1]), "--label-prefix", "tag_"]


def test_compare_table_json_and_quiet(csv_pair, tmp_path, capsys) -> None:
    out = tmp_path / "m.json"
    code = _run("compare", *_data_args(csv_pair), "--models", "br-lr,knn",
                "--metrics-json", str(out), "--quiet", "--seed", "1")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    assert "br-lr" in captured.out and "knn" in captured.out and "micro-F1" in captured.out
    assert "*" in captured.out and "best in its column" in captured.out
    payload = json.loads(out.read_text())
    assert set(payload) == {"br-lr", "knn"}
    assert set(metric_names()) | {"fit_seconds", "predict_seconds"} <= set(payload["knn"])


def test_compare_shows_progress_unless_quiet(csv_pair, capsys) -> None:
    assert _run("compare", *_data_args(csv_pair), "--models", "mlknn") == 0
    assert "mlknn" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["--models", "br-lr,nope"], "unknown model 'nope'"),
    (["--columns", "micro_f1,f9"], "unknown metric 'f9'"),
])
def test_compare_bad_names_exit_2_with_one_line(csv_pair, capsys, args, message) -> None:
    assert _run("compare", *_data_args(csv_pair), *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_curve_writes_png_json_and_diagnosis(csv_pair, tmp_path, capsys) -> None:
    code = _run("curve", *_data_args(csv_pair), "--models", "knn,br-svm", "--fractions",
                "0.3,1", "--out", str(tmp_path / "c"), "--quiet")
    out = capsys.readouterr().out
    assert code == 0
    assert "At the full training set" in out and "knn" in out
    assert (tmp_path / "c" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "c" / "learning_curve.json").read_text())
    assert len(saved["points"]) == 4 and saved["diagnosis"].startswith("At the full")


@pytest.mark.parametrize("fractions", ["0,1", "x", "1.5"])
def test_curve_bad_fractions_exit_2(csv_pair, capsys, fractions: str) -> None:
    assert _run("curve", *_data_args(csv_pair), "--fractions", fractions) == 2
    assert "--fractions" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_emotions_from_the_command_line(shared_data, tmp_path, capsys) -> None:
    base = shared_data / "mulan" / "emotions"
    out = tmp_path / "m.json"
    code = _run("compare", str(base / "emotions-train.arff"), "--test",
                str(base / "emotions-test.arff"), "--models", "br-lr,knn,mlknn",
                "--metrics-json", str(out), "--quiet")
    assert code == 0, capsys.readouterr().err
    assert all(v["micro_f1"] > 0.55 for v in json.loads(out.read_text()).values())
