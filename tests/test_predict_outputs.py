"""What `multitag predict` writes: never over its inputs or the model, no temporaries left by a
killed run, no spreadsheet formulas, memory bounded by cells rather than rows."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model_helpers import numeric_data, train
from multitag.bundle.directory import ModelBundle
from multitag.cli import main
from multitag.cli.common import check_outputs, data_inputs
from multitag.data import load
from multitag.data.registry import ReaderOptions
from multitag.exceptions import ConfigError
from multitag.pipeline import predict as predicting
from multitag.pipeline.predict import (
    csv_cell,
    write_predictions,
)


def _run(*args: object) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return int(done.value.code or 0)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """An svmlight file and a model trained on it (features f0..f5, labels 0..3)."""
    from sklearn.datasets import dump_svmlight_file

    root = tmp_path_factory.mktemp("outputs")
    data = numeric_data()
    dump_svmlight_file(data.X, data.Y, str(root / "d.svm"), multilabel=True, zero_based=True)
    bundle = train(load(root / "d.svm"))
    return {"data": root / "d.svm", "model": bundle.save(root / "model")}


def _model_with_labels(files: dict[str, Path], tmp_path: Path, names: list[str]) -> Path:
    bundle = ModelBundle.load(files["model"])
    return replace(bundle, label_names=names).save(tmp_path / "renamed")


# --------------------------------------------------------------------------- inputs kept
def test_output_onto_the_input_or_into_the_model_is_refused(files, tmp_path, capsys) -> None:
    data = tmp_path / "d.svm"
    data.write_bytes(files["data"].read_bytes())
    (tmp_path / "link.svm").symlink_to(data)
    os.link(data, tmp_path / "hard.svm")
    model = files["model"]
    kept = {p: _digest(p) for p in [data, *model.iterdir()]}
    listing = sorted(p.name for p in tmp_path.iterdir())
    cases = [(data, "is the input file"), (tmp_path / "link.svm", "is the input file"),
             (tmp_path / "hard.svm", "is the input file"),
             (tmp_path / "." / "d.svm", "is the input file"),
             (model / "weights.safetensors", "lies inside the model directory"),
             (model / "new.csv", "lies inside the model directory")]
    for output, message in cases:
        assert _run("predict", model, data, "--output", output, "--quiet") == 2, output
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert {p: _digest(p) for p in kept} == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    assert sorted(p.name for p in model.iterdir()) == ["model.json", "weights.safetensors"]


def test_the_mulan_xml_beside_an_arff_counts_as_an_input(tmp_path) -> None:
    (tmp_path / "scene-train.arff").write_text("@relation x\n")
    (tmp_path / "scene.xml").write_text("<labels/>\n")
    found = data_inputs([tmp_path / "scene-train.arff"], ReaderOptions(labels_xml=None))
    assert tmp_path / "scene.xml" in found
    with pytest.raises(ConfigError, match=r"--metrics-json .*is the input file .*scene.xml"):
        check_outputs({"--metrics-json": tmp_path / "scene.xml"},
                      data=[tmp_path / "scene-train.arff"])


def test_check_outputs_covers_files_and_directories(tmp_path) -> None:
    data, model = tmp_path / "d.csv", tmp_path / "model"
    data.write_text("a\n")
    model.mkdir()
    check_outputs({"--metrics-json": tmp_path / "m.json"}, {"--out": tmp_path / "report"},
                  data=[data, None], models=[model])
    with pytest.raises(ConfigError, match=r"--metrics-json .*is the input file"):
        check_outputs({"--metrics-json": data}, data=[data])
    with pytest.raises(ConfigError, match=r"--metrics-json .*lies inside the model directory"):
        check_outputs({"--metrics-json": tmp_path / "out" / "m.json"},
                      {"--out": tmp_path / "out"})
    with pytest.raises(ConfigError, match=r"--out .*holds the input file"):
        check_outputs(directories={"--out": tmp_path}, data=[data])
    with pytest.raises(ConfigError, match=r"--out .*lies inside the model directory"):
        check_outputs(directories={"--out": model}, models=[model])


# --------------------------------------------------------------------------- temporaries
def test_temporaries_of_a_killed_predict_are_removed_by_the_next_run(files, tmp_path) -> None:
    """A writer killed with SIGKILL leaves its temporary; the next write into the directory
    removes it, and only it (a live process's and a foreign hidden file stay)."""
    script = ("import sys, time\nfrom multitag.fileio import atomic_text_file\n"
              "with atomic_text_file(sys.argv[1]) as handle:\n"
              "    handle.write('id,labels\\n'); handle.flush(); print('ready', flush=True)\n"
              "    time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out.csv")],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".out.csv.mt-") and stale[0].endswith(".tmp")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = stale[0].replace(f"-{writer.pid}-", f"-{alive.pid}-")
        (tmp_path / live).write_text("in use")
        (tmp_path / ".out.csv.notours").write_text("someone else's")
        assert _run("predict", files["model"], files["data"], "-o", tmp_path / "out.csv",
                    "--quiet") == 0
    finally:
        alive.kill()
        alive.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".out.csv.notours", live, "out.csv"])


# --------------------------------------------------------------------------- formulas
FORMULAS = ["=1+1", "+41", "-2+3", "@SUM(A1)", "\tx", "plain"]


def test_csv_cells_that_could_be_formulas_get_a_leading_quote(tmp_path) -> None:
    names = FORMULAS
    proba = np.eye(len(names))  # row i: only label i, so each name starts a labels cell
    out = tmp_path / "p.csv"
    write_predictions(out, names, proba, proba.astype(np.uint8), with_proba=True)
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode(), newline="")))
    assert [row[1] for row in rows[1:]] == ["'" + n if n != "plain" else n for n in names]
    assert rows[0][2:] == [f"p_{n}" for n in names]  # "p_" first: never a formula
    jsonl = tmp_path / "p.jsonl"
    write_predictions(jsonl, names, proba, proba.astype(np.uint8))
    assert [json.loads(line)["labels"] for line in jsonl.read_text().splitlines()] == [
        [n] for n in names]  # JSON is not a spreadsheet: names unchanged
    assert csv_cell("a=b") == "a=b" and csv_cell("") == "" and csv_cell("\rx") == "'\rx"


def test_predict_cli_neutralises_formula_label_names(files, tmp_path) -> None:
    model = _model_with_labels(files, tmp_path, ["=HYPERLINK(\"x\")", "@A1", "+1", "-1"])
    out = tmp_path / "p.csv"
    assert _run("predict", model, files["data"], "-o", out, "--top-k", "1", "--quiet") == 0
    cells = {row[1] for row in list(csv.reader(out.open(newline="")))[1:]}
    assert cells and all(cell.startswith("'") for cell in cells), cells


def test_a_label_name_with_the_separator_refuses_csv_and_allows_jsonl(files, tmp_path,
                                                                      capsys) -> None:
    model = _model_with_labels(files, tmp_path, ["a|b", "c", "d", "e"])
    out = tmp_path / "p.csv"
    assert _run("predict", model, files["data"], "-o", out, "--quiet") == 2
    err = capsys.readouterr().err
    assert "label name 'a|b' contains '|'" in err and "JSONL" in err
    assert not out.exists()
    with pytest.raises(ConfigError, match="line break"):
        write_predictions(out, ["a\rb"], np.ones((1, 1)), np.ones((1, 1), dtype=np.uint8))
    assert not out.exists()
    assert _run("predict", model, files["data"], "-o", tmp_path / "p.jsonl", "--quiet",
                "--top-k", "4") == 0
    first = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert sorted(first["labels"]) == ["a|b", "c", "d", "e"]


# --------------------------------------------------------------------------- memory
def test_output_is_predicted_and_written_in_bounded_pieces(files, tmp_path,
                                                           monkeypatch) -> None:
    whole = tmp_path / "whole.jsonl"
    assert _run("predict", files["model"], files["data"], "-o", whole, "--proba",
                "--quiet") == 0
    sizes: list[int] = []
    original = ModelBundle.predict_proba

    def counted(self: Any, data: Any) -> np.ndarray:
        sizes.append(data.n_samples)
        return original(self, data)

    monkeypatch.setattr(predicting, "OUTPUT_CELLS", 12)  # 4 labels: 3 rows at a time
    monkeypatch.setattr(ModelBundle, "predict_proba", counted)
    pieces = tmp_path / "pieces.jsonl"
    assert _run("predict", files["model"], files["data"], "-o", pieces, "--proba",
                "--quiet") == 0
    assert max(sizes) == 3 and sum(sizes) == 120
    assert pieces.read_text() == whole.read_text()


def _arff(path: Path, attributes: list[str], rows: list[list[float]]) -> Path:
    lines = ["@relation plain", *(f"@attribute {a} numeric" for a in attributes), "@data",
             *(",".join(f"{v:g}" for v in row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_arff_without_a_label_spec_is_read_with_the_models_labels(tmp_path, capsys) -> None:
    """A Mulan test file copied away from its XML, or one of features only: predict and
    evaluate take the model's label names as the file's labels (none if absent)."""
    data = numeric_data(n=60, d=4)
    model = train(data).save(tmp_path / "m")
    X, Y = np.asarray(data.X), data.Y_dense()
    names = [*data.feature_names, *data.label_names]
    with_labels = _arff(tmp_path / "with.arff", names, np.hstack([X, Y]).tolist())
    features_only = _arff(tmp_path / "features.arff", list(data.feature_names), X.tolist())
    assert _run("predict", model, with_labels, "--output", tmp_path / "a.csv", "--quiet") == 0
    assert _run("predict", model, features_only, "--output", tmp_path / "b.csv",
                "--quiet") == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert _run("evaluate", model, with_labels, "--metrics-json", tmp_path / "e.json") == 0
    scored = json.loads((tmp_path / "e.json").read_text())
    from sklearn.metrics import f1_score

    predicted = ModelBundle.load(model).predict(data)
    expected = f1_score(Y, predicted, average="micro", zero_division=0)
    assert scored["micro_f1"] == pytest.approx(expected, abs=1e-9)
    capsys.readouterr()
    assert _run("evaluate", model, features_only) == 2
    assert "labels differ from the model's" in capsys.readouterr().err


def test_model_labels_name_multi_target_attributes() -> None:
    from multitag.data.arff.header import Attribute
    from multitag.data.arff.labels import labels_by_model

    attrs = [Attribute(name=n, raw_name=n, kind="numeric") for n in ("f0", "class_x", "y")]
    assert labels_by_model(attrs, ("class_x=A", "class_x=B", "y")) == [1, 2]
    assert labels_by_model(attrs, ("z",)) == []
