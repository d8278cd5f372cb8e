"""Losses: closed-form and autograd gradients agree, special cases reduce to BCE, pos_weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional

from multitag.exceptions import ConfigError
from multitag.models.losses import (
    AUTO_POS_WEIGHT_RANGE,
    AsymmetricLoss,
    BCELoss,
    FocalLoss,
    LossSpec,
    auto_pos_weight,
)
from multitag.models.mlp import MLP
from multitag.options import TrainOptions
from multitag.training.config import TrainConfig
from multitag.training.fast_backprop import FastBackprop
from multitag.training.trainer import Trainer


def _logits_and_labels(rows: int = 40, labels: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(rows, labels, generator=gen) * 3
    y = (torch.rand(rows, labels, generator=gen) < 0.3).float()
    return logits, y


def _autograd(loss, logits, y) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = logits.clone().requires_grad_(True)
    value = loss(leaf, y)
    value.backward()
    return value.detach(), leaf.grad


@pytest.mark.parametrize("pos_weight", [None, torch.tensor([1.0, 2.0, 5.0, 0.5, 10.0])])
def test_bce_closed_form_gradient_equals_autograd(pos_weight) -> None:
    logits, y = _logits_and_labels()
    loss = BCELoss(pos_weight)
    value, grad = loss.value_and_grad(logits, y)
    want_value, want_grad = _autograd(loss, logits, y)
    assert torch.allclose(value, want_value)
    assert torch.allclose(grad, want_grad, atol=1e-7)


def test_bce_pos_weight_equals_torch_reference() -> None:
    logits, y = _logits_and_labels()
    weights = torch.tensor([1.0, 3.0, 1.0, 2.0, 7.0])
    want = functional.binary_cross_entropy_with_logits(logits, y, pos_weight=weights)
    assert torch.allclose(BCELoss(weights)(logits, y), want)
    # by hand: the positive term of every label is multiplied by its weight
    p = torch.sigmoid(logits)
    by_hand = -(weights * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    assert torch.allclose(BCELoss(weights)(logits, y), by_hand, atol=1e-6)


def test_focal_with_gamma_zero_is_bce_and_down_weights_easy_cells() -> None:
    logits, y = _logits_and_labels()
    bce = BCELoss(None)(logits, y)
    assert torch.allclose(FocalLoss(0.0)(logits, y), bce, atol=1e-6)
    assert FocalLoss(2.0)(logits, y) < bce
    easy = torch.tensor([[6.0]]), torch.tensor([[1.0]])
    hard = torch.tensor([[-1.0]]), torch.tensor([[1.0]])
    ratio_easy = FocalLoss(2.0)(*easy) / BCELoss(None)(*easy)
    ratio_hard = FocalLoss(2.0)(*hard) / BCELoss(None)(*hard)
    assert ratio_easy < 1e-4 < ratio_hard


def test_asymmetric_reduces_to_bce_and_drops_easy_negatives() -> None:
    logits, y = _logits_and_labels()
    assert torch.allclose(AsymmetricLoss(0.0, 0.0, 0.0)(logits, y), BCELoss(None)(logits, y),
                          atol=1e-6)
    # a negative whose probability is below the clip costs nothing at all
    very_easy_negative = torch.tensor([[-4.0]])  # p = 0.018 < 0.05
    assert AsymmetricLoss(4.0, 0.0, 0.05)(very_easy_negative, torch.zeros(1, 1)) == 0
    # positives are untouched with gamma_pos = 0
    positive = torch.tensor([[0.3]]), torch.ones(1, 1)
    assert torch.allclose(AsymmetricLoss(4.0, 0.0, 0.05)(*positive), BCELoss(None)(*positive))


@pytest.mark.parametrize("loss", [FocalLoss(2.0), AsymmetricLoss(4.0, 1.0, 0.05)])
def test_autograd_losses_give_finite_gradients(loss) -> None:
    logits, y = _logits_and_labels()
    logits[0, 0] = 40.0  # saturated cells must not produce NaN
    logits[1, 1] = -40.0
    value, grad = loss.value_and_grad(logits, y)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    _, want_grad = _autograd(loss, logits, y)
    assert torch.allclose(grad, want_grad)


def test_auto_pos_weight_is_negatives_over_positives_clipped() -> None:
    Y = np.zeros((100, 4), dtype=np.uint8)
    Y[:50, 0] = 1   # 50/50 -> 1
    Y[:20, 1] = 1   # 80/20 -> 4
    Y[:2, 2] = 1    # 98/2 = 49 -> clipped to the ceiling
    weights = auto_pos_weight(Y)  # label 3 never positive -> ceiling
    assert weights.tolist() == [1.0, 4.0, AUTO_POS_WEIGHT_RANGE[1], AUTO_POS_WEIGHT_RANGE[1]]


@pytest.mark.parametrize("loss_name", ["bce", "focal", "asymmetric"])
def test_fast_backprop_matches_autograd_for_every_loss(loss_name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 6, generator=gen)
    y = (torch.rand(30, 3, generator=gen) < 0.3).float()
    spec = LossSpec(name=loss_name, pos_weight="auto" if loss_name == "bce" else None)
    loss = spec.build(y.numpy())
    torch.manual_seed(0)
    net = MLP(6, 3, (8,))
    loss(net(x), y).backward()
    expected = [p.grad.clone() for p in net.parameters()]
    FastBackprop(net, loss)(x, y)
    for got, want in zip((p.grad for p in net.parameters()), expected):
        assert torch.allclose(got, want, atol=1e-6)


def test_pos_weight_changes_training_and_is_reported() -> None:
    gen = np.random.default_rng(0)
    X = gen.normal(size=(200, 5)).astype(np.float32)
    Y = (gen.random((200, 3)) < [0.5, 0.1, 0.05]).astype(np.float32)
    results, nets = [], []
    for spec in (LossSpec(), LossSpec(pos_weight="auto")):
        torch.manual_seed(0)
        net = MLP(5, 3, (8,))
        config = TrainConfig(epochs=5, batch_size=32, learning_rate=1e-2, loss=spec)
        results.append(Trainer(config).fit(net, X, Y))
        nets.append(net)
    assert results[0].pos_weight is None
    assert results[1].pos_weight == pytest.approx(auto_pos_weight(Y).tolist())
    with torch.no_grad():  # up-weighted positives raise the predicted probability of rare labels
        mean_proba = [torch.sigmoid(n(torch.from_numpy(X))).mean(0) for n in nets]
    assert (mean_proba[1][1:] > mean_proba[0][1:]).all()


def test_bad_loss_options_are_refused_where_options_are_declared() -> None:
    for bad in ({"loss": "hinge"}, {"pos_weight": "sometimes"}, {"pos_weight": (1.0, -2.0)},
                {"loss": "focal", "pos_weight": "auto"}, {"loss_options": {"clip": 1.5}},
                {"loss_options": {"gamma_neg": -1}}, {"loss_options": {"gamma": 1}}):
        with pytest.raises(ConfigError):
            TrainOptions(**bad)
    with pytest.raises(ConfigError, match="3 values for 2 labels"):
        LossSpec(pos_weight=(1.0, 2.0, 3.0)).build(np.zeros((4, 2)))
