"""Shared fixtures: everything seeded, tiny synthetic data, the path to ../shared/data."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(0)


@pytest.fixture
def tiny_multilabel() -> tuple[np.ndarray, np.ndarray]:
    """300 rows, 8 features, 4 labels from make_multilabel_classification."""
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(
        n_samples=300, n_features=8, n_classes=4, n_labels=2, random_state=3)
    # (random_state=1 gives one class a tiny probability, and the generator then loops
    # ~400k times to draw 4-label sets: 3-4 s per call.)
    return X.astype(np.float32), Y.astype(np.uint8)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA
