"""Applying a saved model needs no torch: the numpy path equals the torch modules to 1e-6 on
every kind of model, and neither `import multitag` nor loading and applying a model imports
torch (or scikit-learn)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from multitag.bundle.directory import ModelBundle
from multitag.data.dataset import Dataset
from multitag.models.inference import predict_scores
from multitag.options import TrainOptions
from multitag.pipeline.fit import train

SRC = Path(__file__).resolve().parents[1] / "src"


def _dense(n: int = 150, d: int = 12, labels: int = 4, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Y = (X[:, :labels] + rng.normal(scale=0.5, size=(n, labels)) > 0).astype(np.uint8)
    return Dataset(X, Y, [f"f{i}" for i in range(d)], [f"l{j}" for j in range(labels)])


def _wide_sparse() -> Dataset:
    X = sp.random(80, 20_100, density=0.002, random_state=2, format="csr")
    Y = (np.asarray(X[:, :300].sum(axis=1)).ravel()[:, None] > [0.0, 0.2]).astype(np.uint8)
    return Dataset(X, Y, [f"w{i}" for i in range(X.shape[1])], ["a", "b"])


KINDS = {
    "single": (_dense, {"ensemble": 1, "hidden": (16,)}),
    "ensemble": (_dense, {"ensemble": 3, "n_jobs": 1, "hidden": (16, 8)}),
    "linear skip": (_dense, {"ensemble": 1, "linear_skip": True}),
    "br-svm": (_dense, {"model": "br-svm"}),
    "blend": (_dense, {"ensemble": 2, "n_jobs": 1, "blend": "linear"}),
    "wide sparse": (_wide_sparse, {"ensemble": 1, "hidden": (8,), "blend": "none"}),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_numpy_equals_torch(kind, tmp_path) -> None:
    make, options = KINDS[kind]
    data = make()
    bundle = train(data, TrainOptions(epochs=3, **options)).bundle
    loaded = ModelBundle.load(bundle.save(tmp_path / "m"))
    features = loaded.transform(data)
    numpy_path = loaded.predict_proba(data)
    torch_path = predict_scores(loaded.module, features)
    np.testing.assert_allclose(numpy_path, torch_path, rtol=0, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(data), bundle.predict_proba(data),
                               rtol=0, atol=1e-12)


def test_numpy_equals_the_onnx_export(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from multitag.serving.onnx import export_onnx

    data = _dense()
    bundle = train(data, TrainOptions(epochs=3, ensemble=2, n_jobs=1)).bundle
    export_onnx(bundle, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: data.X.astype(np.float32)})[0]
    np.testing.assert_allclose(got, bundle.predict_proba(data), atol=1e-5)


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})


def test_import_and_applying_a_model_import_no_torch(tmp_path) -> None:
    data = _dense()
    bundle = train(data, TrainOptions(epochs=2, ensemble=2, n_jobs=1)).bundle
    bundle.save(tmp_path / "m")
    np.save(tmp_path / "x.npy", data.X)
    code = f"""
import sys, numpy as np, multitag
assert 'torch' not in sys.modules, 'import multitag'
model = multitag.ModelBundle.load({str(tmp_path / 'm')!r})
model.predict(np.load({str(tmp_path / 'x.npy')!r}))
heavy = sorted(m for m in ('torch', 'sklearn') if m in sys.modules)
assert not heavy, heavy
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr


def test_cli_predict_imports_no_torch(tmp_path, shared_data) -> None:
    from multitag.cli import main

    emotions = shared_data / "mulan" / "emotions"
    with pytest.raises(SystemExit):
        main(["train", str(emotions / "emotions-train.arff"), "--out", str(tmp_path / "m"),
              "--ensemble", "1", "--epochs", "2", "--quiet"])
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "multitag", "predict", str(tmp_path / "m"),
         str(emotions / "emotions-test.arff"), "-o", str(tmp_path / "p.csv"), "--quiet"],
        capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "torch" not in imported and "sklearn" not in imported
    assert (tmp_path / "p.csv").read_text().startswith("id,labels")
