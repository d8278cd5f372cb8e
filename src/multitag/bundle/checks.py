"""Checks of a model directory's tensors, run by `ModelBundle.load`.

`model.json` itself is checked field by field, and its parts against one another, by
`bundle.schema` first; this checks what the schema cannot see: the tensors hold numbers, all
finite. A problem is one `ModelFileError` naming the file, never a crash deep inside numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from multitag.exceptions import ModelFileError


def check_finite(tensors: dict[str, np.ndarray], path: Path) -> None:
    """Every stored tensor holds numbers, all finite."""
    for name, value in tensors.items():
        if value.dtype.kind not in "biuf":
            raise ModelFileError(f"{path}: tensor {name!r} has dtype {value.dtype}; expected "
                                 "numbers")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite values; the "
                                 "model is corrupted")
