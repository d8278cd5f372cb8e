"""Synthetic multi-label data: the generative process of scikit-learn's
`make_multilabel_classification`, drawn here in numpy with the same random stream (so the
same `random_state` gives the same rows; a test checks it against scikit-learn) without
importing scikit-learn (about 0.75 s of the classic example's start-up).

Each row: the number of labels n ~ Poisson(n_labels) (redrawn while above the number of
classes, or 0 when unlabelled rows are not allowed); classes drawn with probabilities `p_c`
until n distinct ones are chosen; a length k ~ Poisson(length) (redrawn while 0); k words drawn
from the mixture of the chosen classes' word distributions `p_w_c` (uniformly when the row has
no label). A feature is a word's count."""

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
    """Draw a dataset and return its generating distributions too."""
    spec.validate()
    rng = np.random.RandomState(spec.random_state)
    p_c = rng.uniform(size=spec.n_classes)
    p_c /= p_c.sum()
    p_w_c = rng.uniform(size=(spec.n_features, spec.n_classes))
    p_w_c /= p_w_c.sum(axis=0)
    X = np.zeros((spec.n_samples, spec.n_features))
    Y = np.zeros((spec.n_samples, spec.n_classes), dtype=np.uint8)
    class_cdf = np.cumsum(p_c)
    for row in range(spec.n_samples):
        classes = _draw_classes(rng, spec, class_cdf)
        words = _draw_words(rng, spec, p_w_c, classes)
        np.add.at(X[row], words, 1.0)
        Y[row, classes] = 1
    data = Dataset(
        X=X, Y=Y,
        feature_names=[f"x{i}" for i in range(spec.n_features)],
        label_names=[f"label_{c}" for c in range(spec.n_classes)],
        name="synthetic",
    )
    return data, SyntheticDistributions(p_c=p_c, p_w_c=p_w_c)


def _draw_classes(rng: np.random.RandomState, spec: SyntheticSpec,
                  class_cdf: np.ndarray) -> list[int]:
    size = spec.n_classes + 1
    while size > spec.n_classes or (size == 0 and not spec.allow_unlabeled):
        size = rng.poisson(spec.n_labels)
    chosen: set[int] = set()
    while len(chosen) < size:
        chosen.update(int(c) for c in np.searchsorted(
            class_cdf, rng.uniform(size=size - len(chosen))))
    return list(chosen)


def _draw_words(rng: np.random.RandomState, spec: SyntheticSpec, p_w_c: np.ndarray,
                classes: list[int]) -> np.ndarray:
    length = 0
    while length == 0:
        length = rng.poisson(spec.length)
    if not classes:
        return rng.randint(spec.n_features, size=length)
    word_cdf = p_w_c.take(classes, axis=1).sum(axis=1).cumsum()
    word_cdf /= word_cdf[-1]
    return np.searchsorted(word_cdf, rng.uniform(size=length))
