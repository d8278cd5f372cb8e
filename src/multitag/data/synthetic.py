"""Synthetic multi-label data from scikit-learn's `make_multilabel_classification`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of `make_multilabel_classification` (same names, same defaults as the demo)."""

    n_samples: int = 10_000
    n_features: int = 6
    n_classes: int = 3
    n_labels: int = 2
    length: int = 50
    allow_unlabeled: bool = True
    sparse: bool = False
    random_state: int = 42

    def validate(self) -> None:
        for name in ("n_samples", "n_features", "n_classes", "length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"`{name}` must be a positive integer; got {value!r}")
        if not isinstance(self.n_labels, int) or self.n_labels < 1:
            raise ConfigError(f"`n_labels` must be a positive integer; got {self.n_labels!r}")


@dataclass(frozen=True)
class SyntheticDistributions:
    """The generating distributions: P(class) `p_c` and P(word | class) `p_w_c`."""

    p_c: np.ndarray
    p_w_c: np.ndarray


def make_synthetic(spec: SyntheticSpec) -> tuple[Dataset, SyntheticDistributions]:
    """Draw a dataset with `make_multilabel_classification` and return its distributions too."""
    spec.validate()
    from sklearn.datasets import make_multilabel_classification

    X, Y, p_c, p_w_c = make_multilabel_classification(
        n_samples=spec.n_samples, n_features=spec.n_features, n_classes=spec.n_classes,
        n_labels=spec.n_labels, length=spec.length, allow_unlabeled=spec.allow_unlabeled,
        sparse=spec.sparse, return_indicator="dense", return_distributions=True,
        random_state=spec.random_state,
    )
    data = Dataset(
        X=X, Y=Y,
        feature_names=[f"x{i}" for i in range(spec.n_features)],
        label_names=[f"label_{c}" for c in range(spec.n_classes)],
        name="synthetic",
    )
    return data, SyntheticDistributions(p_c=np.asarray(p_c), p_w_c=np.asarray(p_w_c))
