"""Checks of a model directory's tensors and built parts, run by `ModelBundle.load`.

`model.json` itself is checked field by field by `bundle.schema` first; these check what the
schema cannot see: the tensors (numbers, all finite), each member's architecture again as it is
built, and that the rebuilt preprocessor feeds the network. A problem is one `ModelFileError`
naming the file, never a crash deep inside numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multitag.exceptions import ModelFileError


def check_architecture(arch: dict[str, Any], where: Path) -> None:
    """Layer sizes are positive integers, dropout a number in [0, 1)."""
    _positive_int(arch, "n_features", where)
    _positive_int(arch, "n_labels", where)
    hidden = arch.get("hidden")
    if not isinstance(hidden, list):
        raise ModelFileError(f"{where}: architecture 'hidden' must be a list of layer widths; "
                             f"got {type(hidden).__name__}")
    for width in hidden:
        _positive_int({"hidden": width}, "hidden", where)
    dropout = arch.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ModelFileError(f"{where}: architecture 'dropout' must be a number in [0, 1); "
                             f"got {dropout!r}")
    if not isinstance(arch.get("linear_skip", False), bool):
        raise ModelFileError(f"{where}: architecture 'linear_skip' must be true or false; got "
                             f"{arch['linear_skip']!r}")


def _positive_int(arch: dict[str, Any], key: str, where: Path) -> int:
    value = arch.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelFileError(f"{where}: architecture {key!r} must be a positive integer; got "
                             f"{value!r}")
    return value


def check_finite(tensors: dict[str, np.ndarray], path: Path) -> None:
    """Every stored tensor holds numbers, all finite."""
    for name, value in tensors.items():
        if value.dtype.kind not in "biuf":
            raise ModelFileError(f"{path}: tensor {name!r} has dtype {value.dtype}; expected "
                                 "numbers")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite values; the "
                                 "model is corrupted")


def check_agreement(preprocessor: Any, feature_names: list[str], n_inputs: int,
                    where: Path) -> None:
    """The preprocessor was fitted on `feature_names` and feeds `n_inputs` network inputs."""
    if list(preprocessor.feature_names_in_) != list(feature_names):
        raise ModelFileError(
            f"{where}: 'feature_names' ({len(feature_names)}) differ from the preprocessing "
            f"state's feature names ({len(preprocessor.feature_names_in_)})")
    if preprocessor.n_features_out_ != n_inputs:
        raise ModelFileError(
            f"{where}: the preprocessing produces {preprocessor.n_features_out_} features but "
            f"the network takes {n_inputs}")
