"""Tiny trained models for the serve and export tests (a few epochs on synthetic data)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from multitag.bundle.directory import ModelBundle
from multitag.data.dataset import Dataset

LABELS = ["alpha", "beta", "gamma", "delta"]
WORDS = ["cat", "dog", "fish", "bird", "tree", "rock", "sun", "moon"]


def numeric_data(n: int = 120, d: int = 6, seed: int = 1) -> Dataset:
    """Dense features with different scales and offsets, 4 labels."""
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=n, n_features=d, n_classes=len(LABELS),
                                          random_state=seed)
    X = X * np.arange(1, d + 1) + 3.0
    return Dataset(X=X.astype(np.float32), Y=Y.astype(np.uint8),
                   feature_names=[f"f{i}" for i in range(d)], label_names=LABELS)


def text_data(n: int = 80, seed: int = 2) -> Dataset:
    """Short documents; a label is on when one of its two words occurs."""
    rng = np.random.default_rng(seed)
    docs = [" ".join(rng.choice(WORDS, size=5)) for _ in range(n)]
    Y = np.array([[any(w in doc.split() for w in WORDS[2 * j:2 * j + 2]) for j in range(4)]
                  for doc in docs], dtype=np.uint8)
    return Dataset(X=np.zeros((n, 0), dtype=np.float32), Y=Y, feature_names=[],
                   label_names=LABELS, texts=docs)


def train(data: Dataset) -> ModelBundle:
    from multitag.options import TrainOptions
    from multitag.pipeline.fit import train as train_model

    return train_model(data, TrainOptions(hidden=(8,), epochs=3)).bundle


def tfidf_bundle(seed: int = 3) -> tuple[ModelBundle, sp.csr_matrix]:
    """An untrained network behind a sparse TF-IDF preprocessor (idf + L2 row norm)."""
    import torch

    from multitag.bundle.network import Network
    from multitag.decision.rules import make_rule
    from multitag.features.preprocessor import Preprocessor
    from multitag.models.mlp import MLP

    rng = np.random.default_rng(seed)
    X = sp.random(40, 10, density=0.3, format="csr", random_state=seed, dtype=np.float64)
    X.data = rng.integers(1, 5, size=X.nnz).astype(np.float64)
    names = [f"w{i}" for i in range(10)]
    data = Dataset(X=X, Y=np.zeros((40, 4), dtype=np.uint8), feature_names=names,
                   label_names=LABELS)
    torch.manual_seed(seed)
    bundle = ModelBundle(
        preprocessor=Preprocessor(scale="tfidf").fit(data),
        network=Network.from_module(MLP(10, 4, (8,)).eval()),
        decision_rule=make_rule("fixed", threshold=0.5), label_names=LABELS,
        feature_names=names, architecture={"type": "mlp", "n_features": 10, "n_labels": 4,
                                           "hidden": [8], "dropout": 0.0})
    return bundle, X
