"""Ensembles: cross-fitted members, averaged probabilities, parallel = sequential, model files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from multitag.bundle.directory import MODEL_JSON, ModelBundle
from multitag.data.dataset import Dataset
from multitag.estimator import MultiLabelMLP
from multitag.exceptions import ConfigError, ModelFileError
from multitag.models.ensemble import Ensemble
from multitag.models.inference import predict_scores
from multitag.options import TrainOptions
from multitag.pipeline.fit import train as train_model
from multitag.pipeline.members import fold_assignment


@pytest.fixture
def data(tiny_multilabel) -> tuple[np.ndarray, np.ndarray]:
    return tiny_multilabel


def _fit(X, Y, **params) -> MultiLabelMLP:
    base = {"hidden": (8,), "epochs": 4, "random_state": 0, "decision": "global"}
    return MultiLabelMLP(**{**base, **params}).fit(X, Y)


def test_cross_fitted_members_hold_out_disjoint_folds(data) -> None:
    X, Y = data
    folds = fold_assignment(Y, 3, seed=0)
    assert sorted(np.unique(folds)) == [0, 1, 2]
    counts = np.bincount(folds)
    assert counts.max() - counts.min() <= max(2, len(Y) // 10)
    model = _fit(X, Y, ensemble=3, n_jobs=1)
    assert isinstance(model.module_, Ensemble) and len(model.module_.members) == 3
    assert len(model.member_results_) == 3


def test_ensemble_probability_is_the_mean_of_its_members(data) -> None:
    X, Y = data
    model = _fit(X, Y, ensemble=3, n_jobs=1, scale="none")
    members = [predict_scores(m, X) for m in model.module_.members]
    np.testing.assert_allclose(model.predict_proba(X), np.mean(members, axis=0), atol=1e-12)
    with torch.no_grad():
        torch_mean = model.module_.probabilities(torch.from_numpy(X.astype(np.float32)))
    np.testing.assert_allclose(torch_mean.numpy(), np.mean(members, axis=0), atol=1e-5)


def test_members_differ(data) -> None:
    X, Y = data
    model = _fit(X, Y, ensemble=2, n_jobs=1)
    first, second = (m.output.weight for m in model.module_.members)
    assert not torch.equal(first, second)


def test_parallel_training_equals_sequential(data) -> None:
    X, Y = data
    sequential = _fit(X, Y, ensemble=3, n_jobs=1)
    parallel = _fit(X, Y, ensemble=3, n_jobs=2)
    for a, b in zip(sequential.module_.members, parallel.module_.members):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), name
    assert sequential.decision_rule_.to_dict() == parallel.decision_rule_.to_dict()


def test_ensemble_parameter_is_checked(data) -> None:
    X, Y = data
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="ensemble"):
            _fit(X, Y, ensemble=bad)


@pytest.fixture
def ensemble_dir(tmp_path: Path, data) -> tuple[Path, ModelBundle, Dataset]:
    X, Y = data
    dataset = Dataset(X=X, Y=Y, feature_names=[f"f{i}" for i in range(X.shape[1])],
                      label_names=[f"l{j}" for j in range(Y.shape[1])], name="tiny")
    outcome = train_model(dataset, TrainOptions(hidden=(8,), epochs=3, ensemble=3))
    return outcome.bundle.save(tmp_path / "model"), outcome.bundle, dataset


def test_ensemble_model_directory_round_trip(ensemble_dir) -> None:
    directory, bundle, dataset = ensemble_dir
    description = json.loads((directory / MODEL_JSON).read_text())
    assert description["architecture"]["members"] == 3
    loaded = ModelBundle.load(directory)
    assert isinstance(loaded.module, Ensemble)
    np.testing.assert_array_equal(loaded.predict_proba(dataset), bundle.predict_proba(dataset))


def test_ensemble_with_a_missing_member_is_rejected(ensemble_dir) -> None:
    directory, _, _ = ensemble_dir
    path = directory / MODEL_JSON
    description = json.loads(path.read_text())
    description["architecture"]["members"] = 4
    path.write_text(json.dumps(description))
    held = r"weights.safetensors: holds 3 network\(s\) .* architecture.members is "
    with pytest.raises(ModelFileError, match=held + "4"):
        ModelBundle.load(directory)
    description["architecture"]["members"] = 2
    path.write_text(json.dumps(description))
    with pytest.raises(ModelFileError, match=held + "2"):
        ModelBundle.load(directory)


def test_format_version_1_single_network_still_loads(tmp_path: Path, data) -> None:
    X, Y = data
    dataset = Dataset(X=X, Y=Y, feature_names=[f"f{i}" for i in range(X.shape[1])],
                      label_names=[f"l{j}" for j in range(Y.shape[1])], name="tiny")
    bundle = train_model(dataset, TrainOptions(hidden=(8,), epochs=2, ensemble=1)).bundle
    directory = bundle.save(tmp_path / "old")
    path = directory / MODEL_JSON
    description = json.loads(path.read_text())
    description["format_version"] = 1
    del description["architecture"]["members"]
    path.write_text(json.dumps(description))
    np.testing.assert_array_equal(ModelBundle.load(directory).predict_proba(dataset),
                                  bundle.predict_proba(dataset))


def test_ensemble_exports_to_onnx(ensemble_dir, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from multitag.serving.onnx import export_onnx

    directory, bundle, dataset = ensemble_dir
    target = tmp_path / "model.onnx"
    export_onnx(ModelBundle.load(directory), target)
    session = ort.InferenceSession(str(target))
    features = dataset.X.astype(np.float32)
    got = session.run(None, {session.get_inputs()[0].name: features})[0]
    np.testing.assert_allclose(got, bundle.predict_proba(dataset), atol=1e-5)


def test_linear_model_is_a_network_without_hidden_layers(data) -> None:
    from sklearn.svm import LinearSVC

    from multitag.models.linear import fit_linear

    X, Y = data
    Y = Y.copy()
    Y[:, 3] = 0  # a label never seen positive gets a constant, very low probability
    network = fit_linear("br-svm", X, Y)
    assert len(network.hidden) == 0
    proba = predict_scores(network, X)
    for j in range(3):
        svm = LinearSVC(random_state=0, tol=1e-8, max_iter=100_000).fit(X, Y[:, j])
        want = 1 / (1 + np.exp(-svm.decision_function(X)))  # the same optimum, to tolerance
        np.testing.assert_allclose(proba[:, j], want, atol=2e-4)
    assert proba[:, 3].max() < 1e-4


@pytest.mark.parametrize("model", ["br-svm", "br-lr", "auto"])
def test_train_model_saves_linear_and_auto_models(tmp_path: Path, data, model: str) -> None:
    X, Y = data
    dataset = Dataset(X=X, Y=Y, feature_names=[f"f{i}" for i in range(X.shape[1])],
                      label_names=[f"l{j}" for j in range(Y.shape[1])], name="tiny")
    outcome = train_model(dataset, TrainOptions(model=model, hidden=(8,), epochs=3))
    directory = outcome.bundle.save(tmp_path / model)
    description = json.loads((directory / MODEL_JSON).read_text())
    kept = description["training"]["kept"]
    assert kept in ("mlp", "br-svm", "br-lr") and (model == "auto" or kept == model)
    assert description["architecture"]["model"] == kept
    if model == "auto":
        account = [n for n in outcome.notices if n.startswith("--model auto") and "kept" in n]
        assert account and f"kept {kept}" in account[0]
        assert all(name in account[0] for name in ("mlp ", "br-svm ", "br-lr "))
    loaded = ModelBundle.load(directory)
    np.testing.assert_array_equal(loaded.predict(dataset), outcome.bundle.predict(dataset))
    assert loaded.predict(dataset).sum() > 0


def test_auto_keeps_the_best_held_out_candidate() -> None:
    from multitag.decision.selection import RuleChoice
    from multitag.pipeline.selection import Candidate, choose

    candidates = [Candidate("mlp", None, RuleChoice(None, 0.61)),
                  Candidate("br-svm", None, RuleChoice(None, 0.65)),
                  Candidate("br-lr", None, RuleChoice(None, float("nan")))]
    best, account = choose(candidates, "micro_f1")
    assert best.name == "br-svm" and "kept br-svm" in account
    best, _ = choose([Candidate("mlp", None, RuleChoice(None, -0.20)),
                      Candidate("br-lr", None, RuleChoice(None, -0.25))], "hamming")
    assert best.name == "mlp"  # scores are negated Hamming losses: higher is better
