"""The model directory: `model.json` (everything but tensors) + `weights.safetensors`.

Saved into a temporary directory beside the target and renamed into place, so an interrupted
save leaves the previous model intact. A model directory may come from anyone: `model.json` is
data, never configuration for code. Loading checks every field against the closed schema in
`bundle.schema` (types, ranges, sizes, known keys only, parts that agree) and every tensor's
name, dtype and shape before anything is built, and never executes code from the files (no
pickle anywhere); a problem is one `ModelFileError` naming the file and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multitag import __version__
from multitag.bundle.checks import check_finite
from multitag.bundle.jsonschema import read_json
from multitag.bundle.network import Network, expected_shapes
from multitag.bundle.schema import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_JSON_BYTES,
    check_model_json,
)
from multitag.data.dataset import Dataset
from multitag.exceptions import DataFormatError, ModelFileError
from multitag.fileio import plain_json

MODEL_JSON = "model.json"
WEIGHTS = "weights.safetensors"
CHECKPOINT_DIR = "checkpoint"  # training checkpoints; replaced with the directory
_NETWORK_PREFIX = "network."
_PREPROCESSOR_PREFIX = "preprocessor."


@dataclass
class ModelBundle:
    """Everything needed to predict: preprocessor, network (numpy weights: no torch needed to
    apply it), decision rule and label names."""

    preprocessor: Any
    network: Network
    decision_rule: Any
    label_names: list[str]
    feature_names: list[str]
    architecture: dict[str, Any]
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    member_histories: list[list[dict[str, Any]]] = field(default_factory=list)

    # -- prediction ------------------------------------------------------------------------
    def transform(self, data: Dataset | Any) -> Any:
        """Features for the network: a Dataset goes through the saved preprocessor as is;
        an array, CSR matrix or DataFrame is checked against the training feature count."""
        if not isinstance(data, Dataset):
            data = self._as_dataset(data)
        return self.preprocessor.transform(data)

    def predict_proba(self, data: Dataset | Any) -> np.ndarray:
        """Probabilities (n_samples, n_labels), columns in `label_names` order."""
        return self.network.predict_proba(self.transform(data))

    @property
    def module(self) -> Any:
        """The network as a torch module (imports torch; for export and training code)."""
        return self.network.to_module()

    def predict(self, data: Dataset | Any) -> np.ndarray:
        """0/1 label sets (n_samples, n_labels) by the saved decision rule."""
        return self.decision_rule.predict(self.predict_proba(data))

    def _as_dataset(self, X: Any) -> Dataset:
        import scipy.sparse as sp

        if isinstance(X, list | tuple) and X and isinstance(X[0], str):
            texts = [str(t) for t in X]
            return Dataset(X=np.zeros((len(texts), 0)), Y=np.zeros((len(texts), 0)),
                           feature_names=[], label_names=[], texts=texts)
        columns = list(getattr(X, "columns", []))
        matrix = X if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.feature_names):
            raise DataFormatError(
                f"input has {matrix.shape[-1] if matrix.ndim else 0} feature columns; the model "
                f"was trained on {len(self.feature_names)}")
        names = [str(c) for c in columns] if columns else list(self.feature_names)
        return Dataset(X=matrix, Y=np.zeros((matrix.shape[0], 0)), feature_names=names,
                       label_names=[], has_missing=True)

    # -- saving ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the model directory atomically; return its path. An existing directory is
        replaced only if it holds nothing but a model's files."""
        from safetensors.numpy import save_file

        from multitag.fileio import staged_directory

        description, tensors = self._to_files()
        text = json.dumps(description, indent=2, allow_nan=False) + "\n"
        # What is saved must load: the same schema, before anything is written.
        check_model_json(json.loads(text), Path(directory) / MODEL_JSON)
        with staged_directory(directory, (MODEL_JSON, WEIGHTS), "model directory",
                              allowed_dirs=(CHECKPOINT_DIR,)) as staging:
            save_file(tensors, str(staging / WEIGHTS), metadata={"format": FORMAT_NAME})
            (staging / MODEL_JSON).write_text(text, encoding="utf-8")
        return Path(os.path.abspath(directory))

    def _to_files(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state, arrays = self.preprocessor.to_state()
        tensors = self.network.tensors(_NETWORK_PREFIX)
        tensors.update({_PREPROCESSOR_PREFIX + k: np.ascontiguousarray(v)
                        for k, v in arrays.items()})
        description = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "multitag_version": __version__, "architecture": self.architecture,
            "preprocessing": state, "label_names": self.label_names,
            "feature_names": self.feature_names, "decision_rule": self.decision_rule.to_dict(),
            "training": plain_json(self.training), "metrics": plain_json(self.metrics),
            "history": plain_json(self.history),
            "member_histories": plain_json(self.member_histories),
        }
        return description, tensors

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: str | Path) -> ModelBundle:
        """Read and validate a model directory (a `ModelFileError` names what is wrong)."""
        directory = Path(directory)
        description = _read_description(directory)
        tensors = _read_tensors(directory / WEIGHTS)
        return cls._from_files(directory, description, tensors)

    @classmethod
    def _from_files(cls, directory: Path, description: dict[str, Any],
                    tensors: dict[str, np.ndarray]) -> ModelBundle:
        from multitag.decision.rules import rule_from_dict
        from multitag.exceptions import ConfigError
        from multitag.features.preprocessor import Preprocessor

        arrays = {k[len(_PREPROCESSOR_PREFIX):]: v for k, v in tensors.items()
                  if k.startswith(_PREPROCESSOR_PREFIX)}
        where = directory / MODEL_JSON
        try:
            preprocessor = Preprocessor.from_state(description["preprocessing"], arrays)
        except ModelFileError as err:  # the JSON is checked: an array of the weights
            raise ModelFileError(f"{directory}: preprocessing: {err}") from err
        network = _build_network(directory, description, tensors)
        try:  # the schema has checked that it fits the labels
            rule = rule_from_dict(description["decision_rule"])
        except ConfigError as err:
            raise ModelFileError(f"{where}: decision_rule: {err}") from err
        return cls(
            preprocessor=preprocessor, network=network, decision_rule=rule,
            label_names=list(description["label_names"]),
            feature_names=list(description["feature_names"]),
            architecture=description["architecture"], training=description["training"],
            metrics=description["metrics"], history=description.get("history", []),
            member_histories=description.get("member_histories", []),
        )


def _read_description(directory: Path) -> dict[str, Any]:
    """model.json, read within bounds and checked field by field against the schema."""
    path = directory / MODEL_JSON
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: not a model directory (it does not exist)")
    try:
        description = read_json(path, MAX_JSON_BYTES)
    except FileNotFoundError as err:
        raise ModelFileError(f"{path}: missing; a model directory holds {MODEL_JSON} and "
                             f"{WEIGHTS}") from err
    check_model_json(description, path)
    return description


def _read_tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.is_file():
        raise ModelFileError(f"{path}: missing; the network weights are stored there")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: not a readable safetensors file ({err})") from err
    check_finite(tensors, path)
    return tensors


def _build_network(directory: Path, description: dict[str, Any],
                   tensors: dict[str, np.ndarray]) -> Network:
    """The network (or the ensemble of `architecture.members` networks) with its weights,
    every tensor's name and shape checked against the architecture first."""
    arch = description["architecture"]
    members = arch.get("members", 1)
    found = {k[len(_NETWORK_PREFIX):]: v for k, v in tensors.items()
             if k.startswith(_NETWORK_PREFIX)}
    mix = found.pop("weights", None) if members > 1 else None
    _check_member_count(directory, found, members)
    linear_last = arch.get("linear_member") is True
    parts = []
    for i in range(members):
        shape = _LINEAR if linear_last and i == members - 1 else {}  # members >= 2 (schema)
        mine = found if members == 1 else _member_tensors(found, i)
        parts.append(_checked_member(directory, {**arch, **shape}, mine))
    if members > 1:
        extra = sorted(k for k in found if not k.split(".", 1)[0].isdigit()
                       or int(k.split(".", 1)[0]) >= members)
        if extra:
            raise ModelFileError(f"{directory / WEIGHTS}: unexpected tensors {extra[:5]}")
    return Network.from_tensors(parts, _checked_mix(directory, mix, members, arch["n_labels"]))


def _check_member_count(directory: Path, found: dict[str, np.ndarray], members: int) -> None:
    """The weights hold `members` networks: `<i>.<name>` tensors, or unnumbered for one."""
    numbered = {k.split(".", 1)[0] for k in found if k.split(".", 1)[0].isdigit()}
    held = len(numbered) if numbered else int(bool(found))
    if (numbered and numbered != {str(i) for i in range(len(numbered))}) or held != members:
        raise ModelFileError(f"{directory / WEIGHTS}: holds {held} network(s) (numbered "
                             f"{sorted(numbered, key=int) or 'none'}) but {MODEL_JSON} says "
                             f"architecture.members is {members}; expected them to agree")


def _member_tensors(found: dict[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    prefix = f"{index}."
    return {k[len(prefix):]: v for k, v in found.items() if k.startswith(prefix)}


_LINEAR = {"hidden": [], "dropout": 0.0, "linear_skip": False}


def _checked_mix(directory: Path, weights: np.ndarray | None, members: int,
                 n_labels: int) -> np.ndarray | None:
    """The ensemble's (members, labels) weights, each column summing to 1 (None: equal)."""
    if weights is None:
        return None
    if weights.shape != (members, n_labels) or not np.allclose(weights.sum(axis=0), 1.0,
                                                                atol=1e-4) or weights.min() < 0:
        raise ModelFileError(f"{directory / WEIGHTS}: tensor 'network.weights' must be "
                             f"({members}, {n_labels}) non-negative weights summing to 1 per "
                             f"label; got shape {weights.shape}")
    return weights


def _checked_member(directory: Path, arch: dict[str, Any],
                    found: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`found` when its names and shapes are exactly those of `arch` (numpy only: a forged
    layer size allocates nothing before it is compared)."""
    expected = expected_shapes(arch["n_features"], arch["n_labels"], arch["hidden"],
                               arch.get("linear_skip", False))
    for name, shape in expected.items():
        if name not in found:
            raise ModelFileError(f"{directory / WEIGHTS}: tensor {name!r} is missing")
        if tuple(found[name].shape) != shape:
            raise ModelFileError(f"{directory / WEIGHTS}: tensor {name!r} has shape "
                                 f"{tuple(found[name].shape)}; the architecture needs {shape}")
    extra = sorted(set(found) - set(expected))
    if extra:
        raise ModelFileError(f"{directory / WEIGHTS}: unexpected tensors {extra}")
    return found
