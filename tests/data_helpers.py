"""Shared helpers of the data tests: where the hand-written and the real files live."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
BAD = DATA / "bad"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Published shapes (../shared/data/README.md): name -> (train rows, test rows, features, labels)
MULAN_SHAPES = {
    "emotions": ("emotions", 391, 202, 72, 6, False),
    "yeast": ("yeast", 1500, 917, 103, 14, False),
    "scene": ("scene", 1211, 1196, 294, 6, False),
    "medical": ("medical", 333, 645, 1449, 45, True),
    "bibtex": ("bibtex", 4880, 2515, 1836, 159, True),
    "delicious": ("delicious", 12920, 3185, 500, 983, True),
    "tmc2007": ("tmc2007-500", 21519, 7077, 500, 22, True),
}


def shared_data() -> Path:
    """../shared/data, or skip the test with the reason."""
    if not SHARED.is_dir():
        pytest.skip(f"real benchmark data not found at {SHARED}")
    return SHARED


def copy_with_xml(src: Path, dest_dir: Path, name: str | None = None) -> Path:
    """Copy an ARFF file (and the Mulan XML beside it, if any) into `dest_dir`."""
    target = dest_dir / (name or src.name)
    shutil.copyfile(src, target)
    for xml in src.parent.glob("*.xml"):
        if src.stem.startswith(xml.stem):
            shutil.copyfile(xml, dest_dir / xml.name)
    return target
