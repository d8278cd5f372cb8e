"""Prediction from a shared network: float64, cached weights, safe across threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from multitag.models.inference import predict_scores
from multitag.models.mlp import MLP


def test_matches_the_module_and_follows_weight_updates() -> None:
    torch.manual_seed(0)
    net = MLP(5, 3, (8,), linear_skip=True)
    torch.nn.init.normal_(net.skip.weight)
    X = np.random.default_rng(0).normal(size=(20, 5))
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.tensor(X, dtype=torch.float32))).numpy()
    np.testing.assert_allclose(predict_scores(net, X), expected, atol=1e-6)
    with torch.no_grad():
        net.output.bias.add_(5.0)
    assert predict_scores(net, X).mean() > expected.mean() + 0.1


def test_many_threads_share_one_model() -> None:
    torch.manual_seed(0)
    net = MLP(6, 4, (16, 8))
    X = np.random.default_rng(1).normal(size=(64, 6))
    expected = predict_scores(net, X)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: predict_scores(net, X), range(200)))
    assert all(np.array_equal(r, expected) for r in results)
    assert all(p.dtype == torch.float32 for p in net.parameters())
