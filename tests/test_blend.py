"""Blending the networks with a max-margin linear model: chosen on wide data, weight tuned on
the held-out rows, saved as one model that predicts, loads and exports like any other."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from multitag.bundle.directory import ModelBundle
from multitag.data.dataset import Dataset
from multitag.options import TrainOptions
from multitag.pipeline.blend import calibration
from multitag.pipeline.defaults import DataShape, resolve
from multitag.pipeline.fit import train


@pytest.fixture(scope="module")
def wide() -> Dataset:
    """120 rows of 400 sparse binary 'words'; each label is a linear rule on a few words."""
    rng = np.random.default_rng(0)
    X = sp.random(120, 400, density=0.05, random_state=1, format="csr")
    X.data[:] = 1.0
    W = rng.normal(size=(400, 3)) * (rng.random((400, 3)) < 0.1)
    Y = (X @ W > 0.3).astype(np.uint8)
    return Dataset(X, Y, [f"w{i}" for i in range(400)], ["a", "b", "c"], name="wide")


def test_wide_data_gets_a_linear_blend_and_tall_data_does_not() -> None:
    assert resolve(TrainOptions(), DataShape(300, 1500, 40, 0.01)).options.blend == "linear"
    assert resolve(TrainOptions(), DataShape(5000, 1500, 40, 0.01)).options.blend == "none"
    huge = DataShape(1000, 100_000, 5000, 0.001)  # 500M linear weights: not blended
    assert resolve(TrainOptions(), huge).options.blend == "none"


def test_blended_model_round_trips_and_exports(wide, tmp_path) -> None:
    outcome = train(wide, TrainOptions(epochs=5, ensemble=3, n_jobs=1))
    account = [n for n in outcome.notices if n.startswith("--blend linear")]
    assert account and "network weight" in account[0]
    arch = outcome.bundle.architecture
    if "(the networks alone)" in account[0]:
        pytest.skip("the held-out rows kept the networks alone on this draw")
    assert arch["members"] == 4 and arch["linear_member"] is True
    weights = outcome.bundle.module.weights.numpy()
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
    directory = outcome.bundle.save(tmp_path / "m")
    loaded = ModelBundle.load(directory)
    np.testing.assert_allclose(loaded.predict_proba(wide), outcome.bundle.predict_proba(wide),
                               atol=1e-12)
    ort = pytest.importorskip("onnxruntime")
    from multitag.serving.onnx import export_onnx

    export_onnx(loaded, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    dense = wide.X.toarray().astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: dense})[0]
    np.testing.assert_allclose(got, outcome.bundle.predict_proba(wide), atol=1e-5)


def test_a_useless_linear_model_is_left_out() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 200))
    Y = (np.sin(3 * X[:, :3]) > 0.6).astype(np.uint8)  # not linear in the features
    outcome = train(Dataset(X, Y, [f"x{i}" for i in range(200)], ["a", "b", "c"]),
                    TrainOptions(epochs=3, ensemble=2, n_jobs=1, blend="linear"))
    account = next(n for n in outcome.notices if n.startswith("--blend linear"))
    kept_alone = "(the networks alone)" in account
    assert kept_alone == ("linear_member" not in outcome.bundle.architecture)


def test_calibration_fits_a_logistic_curve() -> None:
    rng = np.random.default_rng(3)
    margins = rng.normal(size=(2000, 2)) * 2
    truth = rng.random(margins.shape) < 1 / (1 + np.exp(-(1.5 * margins - 0.5)))
    a, b = calibration(margins, truth.astype(np.uint8))
    assert a == pytest.approx(1.5, abs=0.2) and b == pytest.approx(-0.5, abs=0.2)
