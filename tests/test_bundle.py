"""The model directory: round trip, atomic replace, validation of every part, no pickle."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from multitag.bundle.directory import MODEL_JSON, WEIGHTS, ModelBundle
from multitag.data.dataset import Dataset
from multitag.exceptions import DataFormatError, ModelFileError
from multitag.options import TrainOptions
from multitag.pipeline.evaluate import evaluate_model
from multitag.pipeline.fit import train as train_model


@pytest.fixture
def dataset(tiny_multilabel) -> Dataset:
    X, Y = tiny_multilabel
    return Dataset(X=X, Y=Y, feature_names=[f"f{i}" for i in range(8)],
                   label_names=["a", "b", "c", "d"], name="tiny")


@pytest.fixture
def saved(tmp_path: Path, dataset: Dataset) -> tuple[Path, ModelBundle]:
    options = TrainOptions(hidden=(16,), epochs=5, decision="per_label", ensemble=1)
    outcome = train_model(dataset, options)
    return outcome.bundle.save(tmp_path / "model"), outcome.bundle


def test_round_trip_predicts_the_same(saved, dataset) -> None:
    directory, bundle = saved
    loaded = ModelBundle.load(directory)
    np.testing.assert_array_equal(loaded.predict_proba(dataset), bundle.predict_proba(dataset))
    np.testing.assert_array_equal(loaded.predict(dataset), bundle.predict(dataset))
    assert loaded.label_names == ["a", "b", "c", "d"]
    assert loaded.decision_rule.to_dict() == bundle.decision_rule.to_dict()
    assert sorted(p.name for p in directory.iterdir()) == [MODEL_JSON, WEIGHTS]


def test_predicts_from_a_plain_array(saved, dataset) -> None:
    _, bundle = saved
    np.testing.assert_allclose(bundle.predict_proba(dataset.X), bundle.predict_proba(dataset))
    with pytest.raises(DataFormatError, match="trained on 8"):
        bundle.predict_proba(dataset.X[:, :5])


def test_save_replaces_an_existing_model_atomically(saved, dataset) -> None:
    directory, bundle = saved
    bundle.metrics = {"note": 1.0}
    bundle.save(directory)
    assert json.loads((directory / MODEL_JSON).read_text())["metrics"] == {"note": 1.0}
    assert [p.name for p in directory.parent.iterdir()] == ["model"]


def _edit_json(directory: Path, **changes: object) -> None:
    path = directory / MODEL_JSON
    description = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            description.pop(key)
        else:
            description[key] = value
    path.write_text(json.dumps(description))


@pytest.mark.parametrize(("changes", "message"), [
    ({"format_version": 99}, "format_version: .*format version 99 .* reads format versions "
                             "1, 2"),
    ({"label_names": None}, r"model\.json: label_names: missing"),
    ({"architecture": "mlp"}, "model\\.json: architecture: must be an object; got 'mlp'"),
    ({"architecture": {"n_features": 8, "n_labels": 4, "hidden": [32]}},
     "has shape .* the architecture needs"),
    ({"label_names": ["a"]}, "label_names: holds 1 names but architecture.n_labels is 4"),
    ({"decision_rule": {"rule": "magic"}}, "decision_rule.rule: must be one of 'fixed'"),
])
def test_bad_model_json(saved, changes, message) -> None:
    directory, _ = saved
    _edit_json(directory, **changes)
    with pytest.raises(ModelFileError, match=message):
        ModelBundle.load(directory)


def test_not_json(saved) -> None:
    directory, _ = saved
    (directory / MODEL_JSON).write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        ModelBundle.load(directory)


def test_missing_or_corrupted_weights(saved) -> None:
    directory, _ = saved
    weights = directory / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        ModelBundle.load(directory)
    weights.unlink()
    with pytest.raises(ModelFileError, match="missing; the network weights"):
        ModelBundle.load(directory)


def test_a_pickle_in_place_of_the_weights_is_rejected(saved, tmp_path) -> None:
    directory, _ = saved
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (directory / WEIGHTS).write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelFileError):
        ModelBundle.load(directory)
    assert not marker.exists()


def test_missing_directory() -> None:
    with pytest.raises(ModelFileError, match="not a model directory"):
        ModelBundle.load("/nonexistent/model")


def test_evaluate_checks_label_names(saved, dataset) -> None:
    _, bundle = saved
    report = evaluate_model(bundle, dataset).report
    assert report.per_label[0].threshold is not None
    other = Dataset(X=dataset.X, Y=dataset.Y, feature_names=dataset.feature_names,
                    label_names=["w", "x", "y", "z"])
    with pytest.raises(DataFormatError, match="labels differ"):
        evaluate_model(bundle, other)


def test_too_few_rows_for_the_validation_split(dataset) -> None:
    with pytest.raises(DataFormatError, match="too few for a validation split"):
        train_model(dataset.subset(range(5)), TrainOptions(epochs=1, validation_split=0.1))
    outcome = train_model(dataset.subset(range(5)), TrainOptions(epochs=1))  # 'auto': none
    assert any("too few to hold any out" in n for n in outcome.notices)
    assert outcome.bundle.decision_rule.to_dict()["rule"] == "fixed"


def test_constant_labels_still_train_with_a_notice(dataset) -> None:
    Y = dataset.Y.copy()
    Y[:, 0], Y[:, 1] = 0, 1
    data = Dataset(X=dataset.X, Y=Y, feature_names=dataset.feature_names,
                   label_names=dataset.label_names)
    for options in (TrainOptions(hidden=(8,), epochs=3),  # cross-fitted, per-label thresholds
                    TrainOptions(hidden=(8,), epochs=3, ensemble=1, decision="global")):
        outcome = train_model(data, options)
        assert any("never occur" in n for n in outcome.notices)
        assert any("every training row" in n for n in outcome.notices)
        predicted = outcome.bundle.predict(data)  # as the notices say
        assert predicted[:, 0].sum() == 0 and predicted[:, 1].all()


def test_save_refuses_to_replace_a_directory_with_other_files(saved, tmp_path) -> None:
    from multitag.exceptions import ConfigError

    _, bundle = saved
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="holds files that are not part of a model directory"):
        bundle.save(home)
    assert (home / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "model"]
