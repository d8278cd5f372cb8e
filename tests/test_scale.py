"""Wide sparse input and many labels: the column-major first layer, Adam on it, sparse labels in
the trainer, and saving such a model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from multitag.models.inference import predict_scores
from multitag.models.mlp import MLP, WIDE_INPUT, csr_to_torch
from multitag.training.batches import TensorData
from multitag.training.config import TrainConfig
from multitag.training.optim import FusedAdam
from multitag.training.trainer import Trainer


def _sparse(n_rows: int, n_features: int, seed: int = 0) -> sp.csr_matrix:
    X = sp.random(n_rows, n_features, density=40 / n_features, format="csr", dtype=np.float32,
                  random_state=seed)
    X = sp.vstack([X[:3], sp.csr_matrix((1, n_features), dtype=np.float32), X[3:]]).tocsr()
    return X  # row 3 is empty


def test_wide_first_layer_is_column_major_and_sparse_equals_dense() -> None:
    torch.manual_seed(0)
    module = MLP(WIDE_INPUT + 1, 5, (8,))
    weight = module.hidden[0].weight
    assert not weight.is_contiguous() and weight.t().is_contiguous()
    assert MLP(WIDE_INPUT, 5, (8,)).hidden[0].weight.is_contiguous()
    X = _sparse(20, WIDE_INPUT + 1)
    sparse_out = module(csr_to_torch(X))
    sparse_out.square().sum().backward()
    sparse_grad = weight.grad.clone()
    module.zero_grad()
    dense_out = module(torch.from_numpy(X.toarray()))
    dense_out.square().sum().backward()
    torch.testing.assert_close(sparse_out, dense_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(sparse_grad, weight.grad, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(predict_scores(module, X),
                               torch.sigmoid(dense_out).detach().numpy(), atol=1e-6)


def test_fused_adam_on_a_column_major_weight_equals_torch_adam() -> None:
    torch.manual_seed(0)
    strided = torch.nn.Parameter(torch.randn(30, 6).t())
    plain = torch.nn.Parameter(strided.detach().clone().contiguous())
    ours = FusedAdam([strided], lr=0.01, weight_decay=0.1, decoupled=True)
    reference = torch.optim.AdamW([plain], lr=0.01, weight_decay=0.1)
    for step in range(5):
        grad = torch.randn(6, 30, generator=torch.Generator().manual_seed(step))
        strided.grad, plain.grad = grad.t().contiguous().t(), grad.clone()
        ours.step()
        reference.step()
    torch.testing.assert_close(strided.detach(), plain.detach())


def test_trainer_keeps_sparse_labels_sparse_and_learns() -> None:
    rng = np.random.default_rng(0)
    X = _sparse(400, WIDE_INPUT + 100)
    signal = X[:, :50].sum(axis=1).A.ravel()
    Y = sp.csr_matrix(np.c_[signal > np.median(signal), rng.random(len(signal)) < 0.1]
                      .astype(np.float32))
    data = TensorData(X, Y)
    assert sp.issparse(data.Y) and data.n_labels == 2
    x, y = data.rows(np.array([0, 3, 5]))
    assert x.layout == torch.sparse_csr and y.shape == (3, 2) and y.dtype == torch.float32
    torch.manual_seed(0)
    module = MLP(X.shape[1], 2, (16,))
    result = Trainer(TrainConfig(epochs=15, batch_size=64, learning_rate=0.01, seed=0,
                                 threads=1)).fit(module, X, Y)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] * 0.9


def test_wide_model_survives_save_and_load(tmp_path) -> None:
    from multitag.bundle.directory import ModelBundle
    from multitag.data.dataset import Dataset
    from multitag.options import TrainOptions
    from multitag.pipeline.fit import train as train_model

    X = _sparse(120, WIDE_INPUT + 10)
    Y = (np.asarray(X[:, :200].sum(axis=1)).ravel()[:, None] > [0.0, 0.3]).astype(np.uint8)
    data = Dataset(X=X, Y=Y, feature_names=[f"f{i}" for i in range(X.shape[1])],
                   label_names=["a", "b"])
    outcome = train_model(data, TrainOptions(hidden=(8,), epochs=2, validation_split=0.2,
                                             ensemble=1, blend="none"))
    outcome.bundle.save(tmp_path / "m")
    loaded = ModelBundle.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(data), outcome.bundle.predict_proba(data),
                               rtol=1e-6, atol=1e-9)
    assert not loaded.module.hidden[0].weight.is_contiguous()


@pytest.mark.parametrize("n_labels", [10_000])
def test_many_labels_training_step_runs(n_labels: int) -> None:
    torch.manual_seed(0)
    X = _sparse(64, WIDE_INPUT + 5)
    Y = sp.random(64, n_labels, density=3 / n_labels, format="csr", random_state=1)
    Y.data[:] = 1
    module = MLP(X.shape[1], n_labels, (32,))
    result = Trainer(TrainConfig(epochs=1, batch_size=32, seed=0, threads=1)).fit(module, X, Y)
    assert np.isfinite(result.history[0]["train_loss"])


def test_prediction_cache_sees_optimizer_updates() -> None:
    """FusedAdam's fused kernel updates in place without bumping tensor versions; the float64
    weight cache of predict_scores must still notice (it keys on versions)."""
    torch.manual_seed(0)
    module = MLP(6, 2, (4,))
    X = np.random.default_rng(0).random((5, 6)).astype(np.float32)
    before = predict_scores(module, X)
    optimizer = FusedAdam(module.parameters(), lr=0.1)
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert not np.allclose(predict_scores(module, X), before)
