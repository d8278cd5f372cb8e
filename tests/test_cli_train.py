"""`multitag train`, `evaluate`, `predict` end to end on emotions, and their bad-input exits."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "multitag", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def emotions() -> tuple[Path, Path]:
    root = Path(__file__).resolve().parents[1].parent / "shared/data/mulan/emotions"
    if not root.is_dir():
        pytest.skip(f"benchmark data not found at {root}")
    return root / "emotions-train.arff", root / "emotions-test.arff"


@pytest.fixture(scope="module")
def model_dir(emotions, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("m") / "model"
    metrics = out.parent / "metrics.json"
    done = _cli("train", emotions[0], "--test", emotions[1], "--out", out, "--epochs", "30",
                "--quiet", "--metrics-json", metrics)
    assert done.returncode == 0, done.stderr
    values = json.loads(metrics.read_text())
    assert values["micro_f1"] > 0.6 and "fit_seconds" in values
    return out


def test_evaluate_prints_metrics_and_per_label_table(model_dir, emotions, tmp_path) -> None:
    out = tmp_path / "m.json"
    done = _cli("evaluate", model_dir, emotions[1], "--metrics-json", out)
    assert done.returncode == 0, done.stderr
    assert "amazed-suprised" in done.stdout and "threshold" in done.stdout
    assert json.loads(out.read_text())["label_accuracy"] > 0.7


def test_predict_csv_with_probabilities(model_dir, emotions, tmp_path) -> None:
    out = tmp_path / "p.csv"
    done = _cli("predict", model_dir, emotions[1], "--output", out, "--proba")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 202 and "p_quiet-still" in rows[0]
    assert all(0.0 <= float(rows[0][f"p_{n}"]) <= 1.0 for n in ("sad-lonely", "quiet-still"))


def test_predict_jsonl_top_k(model_dir, emotions, tmp_path) -> None:
    out = tmp_path / "p.jsonl"
    done = _cli("predict", model_dir, emotions[1], "-o", out, "--top-k", "2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 202 and all(len(r["labels"]) == 2 for r in records)


@pytest.mark.parametrize("args", [
    ["predict", "{model}", "{test}", "--top-k", "2", "--threshold", "0.3"],
    ["predict", "{model}", "{test}", "--threshold", "1.5"],
    ["evaluate", "{missing}", "{test}"],
    ["train", "{test}", "--out", "{tmp}/x", "--hidden", "0"],
    ["train", "{test}", "--out", "{tmp}/x", "--model", "svm"],
    ["train", "{test}", "--out", "{tmp}/x", "--decision", "magic"],
    ["train", "{test}", "--out", "{tmp}/x", "--ensemble", "0"],
    ["train", "{test}", "--out", "{tmp}/x", "--loss", "hinge"],
    ["train", "{test}", "--out", "{tmp}/x", "--pos-weight", "1,x"],
    ["train", "{test}", "--out", "{tmp}/x", "--pos-weight", "1,2", "--ensemble", "1"],
    ["train", "{test}", "--out", "{tmp}/x", "--loss", "focal", "--pos-weight", "auto"],
    ["train", "{test}", "--out", "{tmp}/x", "--early-stopping", "accuracy"],
    ["train", "{test}", "--out", "{tmp}/x", "--dropout", "high"],
    ["train", "{test}", "--out", "{tmp}/x", "--loss-param", "gamma=2"],
    ["train", "{test}", "--out", "{tmp}/x", "--loss-param", "clip=wide"],
    ["train", "{test}", "--out", "{tmp}/x", "--pos-weight", "{tmp}/none.json"],
])
def test_bad_input_exits_2_in_one_line(model_dir, emotions, tmp_path, args) -> None:
    fill = {"model": model_dir, "test": emotions[1], "missing": tmp_path / "none",
            "tmp": tmp_path}
    done = _cli(*(a.format(**fill) for a in args))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_train_with_explicit_loss_options_reports_what_it_chose(emotions, tmp_path) -> None:
    out = tmp_path / "m"
    done = _cli("train", emotions[0], "--out", out, "--ensemble", "1", "--loss", "bce",
                "--pos-weight", "auto", "--epochs", "3", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "pos_weight per label: min 1" in done.stderr
    assert "settings from the data (391 rows, 72 dense features, 6 labels)" in done.stderr
    assert "ensemble" not in done.stderr.split("settings from the data")[1].splitlines()[0]
    training = json.loads((out / "model.json").read_text())["training"]
    assert training["loss"] == "bce" and training["pos_weight"] == "auto"
    assert len(training["pos_weight_used"]) == 6
    assert training["hidden"] == [256] and training["ensemble"] == 1


def test_pos_weight_by_label_name_and_loss_params(emotions, tmp_path) -> None:
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"relaxing-calm": 3.0, "angry-aggresive": 2}))
    out = tmp_path / "m"
    done = _cli("train", emotions[0], "--out", out, "--ensemble", "1", "--loss", "bce",
                "--pos-weight", weights, "--epochs", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    training = json.loads((out / "model.json").read_text())["training"]
    assert sorted(training["pos_weight_used"]) == [1.0, 1.0, 1.0, 1.0, 2.0, 3.0]
    weights.write_text(json.dumps({"no-such-label": 3.0}))
    done = _cli("train", emotions[0], "--out", tmp_path / "x", "--pos-weight", weights)
    assert done.returncode == 2 and "no-such-label" in done.stderr
    done = _cli("train", emotions[0], "--out", out, "--ensemble", "1", "--epochs", "2",
                "--loss-param", "gamma_neg=2", "--loss-param", "clip=0", "--quiet")
    assert done.returncode == 0, done.stderr
    loss = json.loads((out / "model.json").read_text())["training"]["loss_options"]
    assert dict(loss) == {"gamma_neg": 2.0, "clip": 0.0}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_a_gpu_that_is_not_there_is_exit_2(emotions, tmp_path) -> None:
    done = _cli("train", emotions[0], "--out", tmp_path / "m", "--device", "cuda")
    assert done.returncode == 2 and "no such device" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "m").exists()
