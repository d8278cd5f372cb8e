"""The training engine: exact fast backward, exact fused Adam, seeds, early stopping, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch.nn import functional

from multitag.exceptions import ConfigError, TrainingError
from multitag.models.losses import BCELoss
from multitag.models.mlp import MLP
from multitag.options import TrainOptions
from multitag.training.config import TrainConfig
from multitag.training.fast_backprop import FastBackprop, supports
from multitag.training.optim import FusedAdam
from multitag.training.trainer import Callback, Trainer, choose_threads


def _batch(rows: int = 50, features: int = 7, labels: int = 4) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(rows, features, generator=gen)
    y = (torch.rand(rows, labels, generator=gen) < 0.4).float()
    return x, y


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("hidden", [(), (16,), (32, 16, 8)])
def test_fast_backprop_matches_autograd(hidden: tuple[int, ...], skip: bool) -> None:
    x, y = _batch()
    torch.manual_seed(0)
    net = MLP(7, 4, hidden, linear_skip=skip)
    if skip:
        torch.nn.init.normal_(net.skip.weight)
    loss = functional.binary_cross_entropy_with_logits(net(x), y)
    loss.backward()
    expected = [p.grad.clone() for p in net.parameters()]
    fast_loss = FastBackprop(net)(x, y)
    assert torch.allclose(fast_loss, loss.detach(), atol=1e-6)
    for got, want in zip((p.grad for p in net.parameters()), expected):
        assert torch.allclose(got, want, atol=1e-6, rtol=1e-5)


def test_fast_backprop_only_for_dense_mlp() -> None:
    assert supports(MLP(3, 2, (4,)), dense_input=True)
    assert supports(MLP(3, 2, (4,), dropout=0.5), dense_input=True)
    assert not supports(MLP(3, 2, (4,)), dense_input=False)
    assert not supports(torch.nn.Linear(3, 2), dense_input=True)


@pytest.mark.parametrize(("dropout", "skip"), [(0.3, False), (0.5, True)])
def test_fast_backprop_with_dropout_equals_autograd(dropout: float, skip: bool) -> None:
    """The same masks (drawn as torch's dropout draws them) and the same gradients."""
    from multitag.models.losses import loss_spec_from

    x, y = _batch(rows=32)
    torch.manual_seed(0)
    net = MLP(7, 4, (16, 8), dropout, linear_skip=skip).train()
    loss = loss_spec_from("asymmetric").build(y.numpy())
    torch.manual_seed(5)
    reference = loss(net(x), y)
    reference.backward()
    expected = {n: p.grad.clone() for n, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = None
    torch.manual_seed(5)
    value = FastBackprop(net, loss)(x, y)
    assert float(value) == pytest.approx(float(reference), rel=1e-6)
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("decoupled", "reference"), [(False, torch.optim.Adam),
                                                      (True, torch.optim.AdamW)])
def test_fused_adam_equals_torch_optim(decoupled: bool, reference: type) -> None:
    x, y = _batch()
    torch.manual_seed(0)
    ours, theirs = MLP(7, 4, (8,)), MLP(7, 4, (8,))
    theirs.load_state_dict(ours.state_dict())
    opt_ours = FusedAdam(ours.parameters(), lr=1e-2, weight_decay=0.01, decoupled=decoupled)
    opt_theirs = reference(theirs.parameters(), lr=1e-2, weight_decay=0.01)
    for _ in range(5):
        for net, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            functional.binary_cross_entropy_with_logits(net(x), y).backward()
            opt.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_fused_adam_state_round_trip() -> None:
    net = MLP(7, 4, (8,))
    opt = FusedAdam(net.parameters())
    x, y = _batch()
    functional.binary_cross_entropy_with_logits(net(x), y).backward()
    opt.step()
    fresh = FusedAdam(net.parameters())
    fresh.load_state_dict(opt.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(fresh.exp_avg_sq, opt.exp_avg_sq))
    assert float(fresh.steps[0]) == 1.0


def _train(seed: int, **config: object) -> tuple[MLP, object]:
    x, y = _batch(rows=200)
    torch.manual_seed(seed)
    net = MLP(7, 4, (16,))
    result = Trainer(TrainConfig(seed=seed, epochs=5, batch_size=32, **config)).fit(
        net, x.numpy(), y.numpy(), x[:40].numpy(), y[:40].numpy())
    return net, result


def test_same_seed_same_weights_and_history() -> None:
    (a, ra), (b, rb) = _train(7), _train(7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert ra.history == [{**r, "seconds": s["seconds"]} for r, s in zip(rb.history, ra.history)]
    c, _ = _train(8)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_training_lowers_the_loss() -> None:
    _, result = _train(0, learning_rate=1e-2)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert {"epoch", "train_loss", "valid_loss", "seconds"} <= set(result.history[0])


def test_early_stopping_restores_the_best_epoch() -> None:
    x, y = _batch(rows=60)
    xv, yv = _batch(rows=60, features=7)
    net = MLP(7, 4, (64,))
    result = Trainer(TrainConfig(epochs=200, batch_size=8, learning_rate=3e-2,
                                 early_stopping_patience=3)).fit(
        net, x.numpy(), y.numpy(), xv.numpy(), 1 - yv.numpy())
    assert result.stopped_early
    best = min(r["valid_loss"] for r in result.history)
    assert result.history[result.best_epoch - 1]["valid_loss"] == best
    again = Trainer.validation_loss(net, _Data(xv, 1 - yv), BCELoss(None))
    assert again == pytest.approx(best, rel=1e-5)


class _Data:
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        from multitag.training.batches import TensorData

        self._inner = TensorData(x.numpy(), y.numpy())

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@pytest.mark.parametrize(("n_features", "fast"), [(500, True), (30_000, False)])
def test_sparse_input_trains_without_densifying_the_dataset(n_features: int, fast: bool) -> None:
    """Narrow sparse data is densified one batch at a time; wide data stays sparse."""
    rng = np.random.default_rng(0)
    X = sp.random(120, n_features, density=0.002, format="csr", random_state=0,
                  dtype=np.float32)
    Y = (rng.random((120, 3)) < 0.3).astype(np.float32)
    for skip in (False, True):
        net = MLP(n_features, 3, (16,), linear_skip=skip)
        result = Trainer(TrainConfig(epochs=3, batch_size=32)).fit(net, X, Y)
        assert result.fast_path is fast and len(result.history) == 3


def test_divergence_names_epoch_and_batch() -> None:
    x, y = _batch(rows=64)
    x[10, 0] = float("nan")
    with pytest.raises(TrainingError, match=r"epoch 1, batch \d+; try a lower learning rate"):
        Trainer(TrainConfig(epochs=2, batch_size=16, shuffle=False)).fit(
            MLP(7, 4, (8,)), x.numpy(), y.numpy())


def test_callbacks_see_every_epoch() -> None:
    seen: list[int] = []

    class Recorder(Callback):
        def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
            seen.append(int(record["epoch"]))

    x, y = _batch()
    Trainer(TrainConfig(epochs=4, batch_size=64), [Recorder()]).fit(
        MLP(7, 4, (8,)), x.numpy(), y.numpy())
    assert seen == [1, 2, 3, 4]


def test_thread_choice_is_one_for_small_networks() -> None:
    assert choose_threads(MLP(6, 3, (32, 16, 8)), 250) == 1
    assert choose_threads(MLP(2000, 100, (1024, 1024)), 256) >= 1


def test_device_auto_is_the_cpu_without_a_gpu_and_a_missing_gpu_is_an_error(monkeypatch) -> None:
    from multitag.training.trainer import resolve_device

    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ConfigError, match="no such device"):
            resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match="device"):
        TrainOptions(device="gpu")


def test_mixed_precision_trains_in_bfloat16_and_keeps_float32_weights() -> None:
    x, y = _batch(rows=200)
    results, nets = {}, {}
    for amp in (False, True):
        torch.manual_seed(0)
        nets[amp] = MLP(7, 4, (32,))
        config = TrainConfig(epochs=20, batch_size=32, learning_rate=1e-2, mixed_precision=amp)
        results[amp] = Trainer(config).fit(nets[amp], x.numpy(), y.numpy())
    assert results[True].fast_path is False and results[False].fast_path is True
    assert all(p.dtype == torch.float32 for p in nets[True].parameters())
    losses = [r["train_loss"] for r in results[True].history]
    assert losses[-1] < losses[0] * 0.9  # it learns
    # bfloat16 rounds the network's arithmetic: close to float32 training, not equal
    assert losses[-1] == pytest.approx(results[False].history[-1]["train_loss"], rel=0.2)
    assert not torch.equal(nets[True].output.weight, nets[False].output.weight)
