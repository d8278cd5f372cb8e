"""Streaming predict (`--chunk-rows`) and out-of-core training (`train --stream`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from multitag.bundle.directory import ModelBundle
from multitag.cli import main
from multitag.data import load
from multitag.data.chunks import ChunkedFile
from multitag.data.dataset import Dataset
from multitag.features.preprocessor import Preprocessor
from multitag.features.statistics import FeatureMoments
from multitag.pipeline.predict import write_predictions
from multitag.pipeline.streaming import first_pass
from multitag.training.batches import StreamBatches


def _run(*args: object) -> int:
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return int(done.value.code or 0)


@pytest.fixture(scope="module")
def problem(tmp_path_factory) -> dict[str, Path]:
    """A synthetic multi-label problem as svmlight files, and a model trained in memory."""
    from sklearn.datasets import dump_svmlight_file, make_multilabel_classification

    root = tmp_path_factory.mktemp("stream")
    X, Y = make_multilabel_classification(n_samples=1500, n_features=30, n_classes=5,
                                          n_labels=2, random_state=3)
    X = X.astype(np.float32)
    dump_svmlight_file(X[:1200], Y[:1200], str(root / "train.svm"), multilabel=True)
    dump_svmlight_file(X[1200:], Y[1200:], str(root / "test.svm"), multilabel=True)
    paths = {"root": root, "train": root / "train.svm", "test": root / "test.svm",
             "model": root / "model", "metrics": root / "memory.json"}
    assert _run("train", paths["train"], "--test", paths["test"], "--out", paths["model"],
                "--epochs", "20", "--quiet", "--metrics-json", paths["metrics"]) == 0
    return paths


@pytest.mark.parametrize("suffix,extra", [(".csv", ["--proba"]), (".jsonl", []),
                                          (".csv", ["--top-k", "2"])])
def test_streaming_predict_equals_in_memory_predict(problem, tmp_path, suffix, extra) -> None:
    out = tmp_path / f"streamed{suffix}"
    assert _run("predict", problem["model"], problem["test"], "-o", out, "--chunk-rows", "7",
                "--quiet", *extra) == 0
    bundle = ModelBundle.load(problem["model"])
    proba = bundle.predict_proba(load(problem["test"]))
    rule = bundle.decision_rule
    if "--top-k" in extra:
        from multitag.decision.rules import make_rule

        rule = make_rule("top_k", k=2)
    reference = tmp_path / f"reference{suffix}"
    write_predictions(reference, bundle.label_names, proba, rule.predict(proba),
                      with_proba="--proba" in extra)
    assert out.read_text() == reference.read_text()
    assert out.read_text().count("\n") == 300 + (suffix == ".csv")


def test_streaming_predict_to_stdout_equals_the_file(problem, tmp_path, capsys) -> None:
    out = tmp_path / "p.csv"
    assert _run("predict", problem["model"], problem["test"], "-o", out, "--quiet") == 0
    capsys.readouterr()
    assert _run("predict", problem["model"], problem["test"], "--chunk-rows", "50",
                "--quiet") == 0
    assert capsys.readouterr().out == out.read_text()


def test_predict_error_in_a_later_chunk_writes_nothing(problem, tmp_path, capsys) -> None:
    rows = problem["test"].read_text().splitlines()
    rows[150] = "1 3:1 45:2"  # feature 45: the model knows 30
    bad = tmp_path / "bad.svm"
    bad.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    assert _run("predict", problem["model"], bad, "-o", out, "--chunk-rows", "20") == 2
    assert "bad.svm:151: feature index 45 out of range" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_stream_training_is_close_to_in_memory_training(problem) -> None:
    model, metrics = problem["root"] / "streamed", problem["root"] / "streamed.json"
    assert _run("train", problem["train"], "--stream", "--chunk-rows", "100", "--test",
                problem["test"], "--out", model, "--epochs", "20", "--quiet",
                "--metrics-json", metrics) == 0
    streamed = json.loads(metrics.read_text())["micro_f1"]
    in_memory = json.loads(problem["metrics"].read_text())["micro_f1"]
    assert streamed > 0.6 and abs(streamed - in_memory) < 0.05, (streamed, in_memory)
    saved = ModelBundle.load(model)
    assert saved.training["stream"]["n_valid_rows"] + saved.training["n_train_rows"] == 1200
    assert saved.label_names == ModelBundle.load(problem["model"]).label_names


def test_stream_training_on_dense_csv_runs(tmp_path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    lines = ["a,b,c,d,lab_x,lab_y"] + [
        ",".join(f"{v:.3f}" for v in row) + f",{int(row[0] > 0)},{int(row[1] > 0)}" for row in X]
    lines[20] = lines[20].replace(lines[20].split(",")[2], "", 1)  # a missing value
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m"
    assert _run("train", path, "--stream", "--chunk-rows", "64", "--label-prefix", "lab_",
                "--out", model, "--epochs", "5", "--quiet") == 0
    assert ModelBundle.load(model).preprocessor.mode_ == "standard"


def _chunks(data: Dataset, size: int) -> list[Dataset]:
    return [data.subset(np.arange(i, min(i + size, data.n_samples)))
            for i in range(0, data.n_samples, size)]


@pytest.mark.parametrize("sparse", [False, True])
def test_streamed_statistics_equal_a_fit_on_all_rows(sparse) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(3.0, 2.0, size=(257, 6))
    X[rng.random(X.shape) < 0.5] = 0.0
    X[5, 2] = X[100, 4] = np.nan
    X = sp.csr_matrix(X) if sparse else X
    data = Dataset(X=X, Y=np.zeros((257, 1)), feature_names=list("abcdef"), label_names=["y"],
                   has_missing=True)
    moments = FeatureMoments(6, sparse)
    for chunk in _chunks(data, 50):
        moments.add(chunk.X)
    streamed = moments.preprocessor(data.feature_names)
    fitted = Preprocessor(impute="mean").fit(data)
    np.testing.assert_allclose(streamed.fill_, fitted.fill_, rtol=1e-5)
    np.testing.assert_allclose(streamed.scale_, fitted.scale_, rtol=1e-5)
    if not sparse:
        np.testing.assert_allclose(streamed.center_, fitted.center_, rtol=1e-5)
    dense = (lambda m: m.toarray()) if sparse else np.asarray
    np.testing.assert_allclose(dense(streamed.transform(data)), dense(fitted.transform(data)),
                               atol=1e-5)


def test_validation_rows_are_capped_and_left_out_of_every_epoch(problem) -> None:
    chunks = ChunkedFile(problem["train"], chunk_rows=128)
    found = first_pass(chunks, validation_split=0.2, seed=4, max_valid_rows=50)
    assert found.n_rows == 1200 and found.valid.n_samples == 50
    pre = found.moments.preprocessor(found.feature_names)
    source = StreamBatches(chunks, pre, 4, found.valid_cut, 1150, 5)
    import torch

    generator = torch.Generator().manual_seed(0)
    seen = [len(y) for _, y in source.batches(32, generator, shuffle=True)]
    assert sum(seen) == 1150
    again = first_pass(chunks, validation_split=0.2, seed=4, max_valid_rows=50)
    np.testing.assert_array_equal(again.valid.X.toarray(), found.valid.X.toarray())


def test_stream_training_pins_constant_labels_and_refuses_other_models(tmp_path,
                                                                       capsys) -> None:
    path = tmp_path / "c.txt"
    path.write_text("60 4 3\n" + "".join(f"{i % 2},2 {i % 4}:1\n" for i in range(60)))
    model = tmp_path / "m"
    assert _run("train", path, "--stream", "--chunk-rows", "16", "--out", model,
                "--epochs", "2", "--quiet") == 0
    assert "1 label(s) occur in every training row" in capsys.readouterr().err
    proba = ModelBundle.load(model).predict_proba(load(path))
    assert (proba[:, 2] > 0.999).all()
    for option, value in (("--model", "br-svm"), ("--ensemble", "3")):
        assert _run("train", path, "--stream", "--out", tmp_path / "x", option, value) == 2
        err = capsys.readouterr().err
        assert err.startswith("multitag: error: --stream: ") and option in err
    assert not (tmp_path / "x").exists()
