"""The training loop: a few short steps (train step, validation, epoch end) plus callbacks.

In-memory data is shuffled once per epoch and sliced into batches (no DataLoader); validation runs
under `torch.inference_mode()`; the thread count is chosen deliberately and reported.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from multitag.exceptions import ConfigError, TrainingError
from multitag.models.losses import Loss
from multitag.training import fast_backprop
from multitag.training.batches import TensorData, labels_numpy
from multitag.training.callbacks import Callback
from multitag.training.config import TrainConfig
from multitag.training.optim import FusedAdam

# Below this many multiply-adds per batch, extra threads cost more than they save.
_SINGLE_THREAD_WORK = 500_000_000


@dataclass
class TrainResult:
    """What training produced: per-epoch history (JSON-ready), best epoch, timing, threads."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    fit_seconds: float = 0.0
    threads: int = 1
    stopped_early: bool = False
    fast_path: bool = False
    pos_weight: list[float] | None = None
    device: str = "cpu"
    resumed_seconds: float = 0.0  # training time before a resume (in fit_seconds too)


@dataclass
class TrainState:
    """Everything the loop carries from one epoch to the next: what a checkpoint saves."""

    module: nn.Module
    optimizer: FusedAdam
    generator: torch.Generator
    result: TrainResult
    train: TensorData
    valid: TensorData | None
    epoch: int = 0
    best_loss: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    waited: int = 0
    elapsed: float = 0.0


class Trainer:
    """Trains a torch module that maps features to logits with a per-label loss (BCE default)."""

    def __init__(self, config: TrainConfig, callbacks: Sequence[Callback] = (),
                 scorer: Callable[[np.ndarray, np.ndarray], float] | None = None) -> None:
        """`scorer(Y_valid, probabilities)` (higher is better) is what early stopping watches
        when `config.monitor == "score"`; otherwise the validation loss is."""
        self.config = config
        self.callbacks = list(callbacks)
        self.scorer = scorer

    def fit(
        self, module: nn.Module, X: Any, Y: Any, X_valid: Any = None, Y_valid: Any = None,
    ) -> TrainResult:
        """Train `module` in place on (X, Y); validate on (X_valid, Y_valid) after every epoch.

        `X` may instead be any object with `batches(size, generator, shuffle)`, `n_rows`,
        `n_labels` and `dense_batches` like `TensorData` (then `Y` is None): data streamed
        from a file, for example."""
        device = resolve_device(self.config.device)
        threads = self.config.threads or choose_threads(module, self.config.batch_size)
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        self.device, self.autocast = device, autocast_for(device, self.config.mixed_precision)
        module.to(device)
        try:
            return self._fit(module, X, Y, X_valid, Y_valid, threads)
        finally:
            torch.set_num_threads(previous_threads)
            module.to("cpu")  # prediction, saving and checkpoints read CPU tensors

    def _fit(self, module, X, Y, X_valid, Y_valid, threads) -> TrainResult:
        cfg = self.config
        train = X if hasattr(X, "batches") else TensorData(X, Y)  # or a streamed source
        valid = TensorData(X_valid, Y_valid) if X_valid is not None else None
        loss = cfg.loss.build(train.Y)
        fast = fast_backprop.FastBackprop(module, loss) if fast_backprop.supports(
            module, train.dense_batches) and not cfg.mixed_precision else None
        result = TrainResult(threads=threads, fast_path=fast is not None,
                             pos_weight=_as_list(getattr(loss, "pos_weight", None)),
                             device=str(self.device))
        state = TrainState(module, make_optimizer(module, cfg),
                           torch.Generator().manual_seed(cfg.seed), result, train, valid)
        for callback in self.callbacks:
            callback.on_loop_start(self, state)
        result.resumed_seconds = state.elapsed  # > 0 when a checkpoint was restored
        started = time.perf_counter() - state.elapsed
        for callback in self.callbacks:
            callback.on_train_begin(self, cfg.epochs)
        while state.epoch < cfg.epochs and not result.stopped_early:
            self._run_epoch(state, fast, loss, started)
            for callback in self.callbacks:
                callback.on_epoch_complete(self, state)
        if state.best_state is not None:
            module.load_state_dict(state.best_state)
        module.eval()
        result.fit_seconds = time.perf_counter() - started
        for callback in self.callbacks:
            callback.on_train_end(self, result)
        return result

    def _run_epoch(self, state: TrainState, fast, loss: Loss, started: float) -> None:
        """One epoch, its history record, then learning rate, best weights, early stopping."""
        cfg, module, optimizer, result = self.config, state.module, state.optimizer, state.result
        state.epoch = epoch = state.epoch + 1
        module.train()
        train_loss = self.train_epoch(module, optimizer, state.train, state.generator, fast,
                                      epoch, loss)
        record = {"epoch": epoch, "train_loss": train_loss}
        if state.valid is not None:
            record["valid_loss"] = self.validation_loss(module, state.valid, loss)
            if self.scorer is not None:
                record["valid_score"] = self.validation_score(module, state.valid)
        record["seconds"] = state.elapsed = time.perf_counter() - started
        result.history.append(record)
        record["learning_rate"] = optimizer.lr
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)
        monitored = (-record["valid_score"] if "valid_score" in record and
                     cfg.monitor == "score" else record.get("valid_loss", train_loss))
        improved = monitored < state.best_loss - 1e-7
        optimizer.lr = next_learning_rate(cfg, epoch, optimizer.lr, improved, state.waited)
        if improved:
            state.best_loss, state.waited, result.best_epoch = monitored, 0, epoch
            if cfg.early_stopping_patience and cfg.restore_best:
                state.best_state = copy.deepcopy(module.state_dict())
        else:
            state.waited += 1
            if cfg.early_stopping_patience and state.waited >= cfg.early_stopping_patience:
                result.stopped_early = True

    def train_epoch(self, module, optimizer, data, generator, fast, epoch, loss) -> float:
        """One pass over the shuffled training data; returns the mean batch loss."""
        losses = []
        for x, y in data.batches(self.config.batch_size, generator, self.config.shuffle):
            losses.append(self.train_step(module, optimizer, x, y, fast, loss))
        batch_losses = torch.stack(losses)
        if not torch.isfinite(batch_losses).all():
            bad = int(torch.nonzero(~torch.isfinite(batch_losses))[0, 0]) + 1
            raise TrainingError(
                f"training diverged: the loss became {batch_losses[bad - 1].item()} in epoch "
                f"{epoch}, batch {bad}; try a lower learning rate "
                f"(now {self.config.learning_rate:g})"
            )
        return float(batch_losses.mean())

    def train_step(self, module, optimizer, x, y, fast, loss: Loss) -> torch.Tensor:
        """Gradients for one batch, then one optimizer step; returns the batch loss. With
        mixed precision the network runs in bfloat16 and the loss in float32."""
        device = getattr(self, "device", None)
        if device is not None and device.type != "cpu":
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if fast is not None:
            value = fast(x, y)
        else:
            optimizer.zero_grad()
            with self.autocast():
                logits = module(x)
            value = loss(logits.float(), y)
            value.backward()
            value = value.detach()
        optimizer.step()
        return value

    @staticmethod
    def validation_loss(module: nn.Module, data: TensorData, loss: Loss) -> float:
        """Mean training loss over the whole validation set, in evaluation mode."""
        module.eval()
        total = 0.0
        device = next(module.parameters()).device
        with torch.inference_mode():
            for x, y in data.batches(8192, None, shuffle=False):
                total += loss.total(module(x.to(device)), y.to(device))
        module.train()
        return total / max(data.n_rows * data.n_labels, 1)


    def validation_score(self, module: nn.Module, data: TensorData) -> float:
        """`scorer` of the validation labels and the network's probabilities."""
        module.eval()
        with torch.inference_mode():
            device = next(module.parameters()).device
            proba = torch.cat([torch.sigmoid(module(x.to(device))).cpu() for x, _ in
                               data.batches(8192, None, shuffle=False)])
        module.train()
        return float(self.scorer(labels_numpy(data.Y), proba.double().numpy()))


def next_learning_rate(
    cfg: TrainConfig, epoch: int, current: float, improved: bool, waited: int
) -> float:
    """Learning rate for the next epoch: constant, cosine decay to 1% of the start, or divided
    by 5 after 5 epochs without improvement of the monitored loss (plateau, floor 1e-3x)."""
    if cfg.lr_schedule == "cosine":
        return cfg.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * epoch
                                                                       / cfg.epochs)))
    if cfg.lr_schedule == "plateau" and not improved and (waited + 1) % 5 == 0:
        return max(current / 5.0, cfg.learning_rate * 1e-3)
    return current


def resolve_device(name: str) -> torch.device:
    """`auto`: the first CUDA GPU when torch sees one, else the CPU; a named GPU that is not
    there is a ConfigError (never a silent fall-back to the CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None
                 and torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise ConfigError(f"`--device {name}`: no such device here (torch sees "
                          f"{'a CUDA GPU' if available['cuda'] else 'no GPU'})")
    return device


def autocast_for(device: torch.device, enabled: bool) -> Callable[[], Any]:
    """A context factory: bfloat16 autocast on `device` when `enabled`, else a no-op."""
    if not enabled:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def make_optimizer(module: nn.Module, cfg: TrainConfig) -> FusedAdam:
    """Adam (L2 weight decay) or AdamW (decoupled weight decay) on the module's parameters."""
    return FusedAdam(module.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay,
                     decoupled=cfg.optimizer == "adamw")


def choose_threads(module: nn.Module, batch_size: int) -> int:
    """One thread unless a batch is large work (then every core): below that, overhead
    dominates and extra threads only wait on each other, many times slower when other processes
    keep the cores busy (bibtex measured 5.8 s on one thread, 87 s on two beside another job).
    Decided by the network and batch alone, never by the machine's load, so a seed gives the
    same weights however busy the machine is."""
    n_params = sum(p.numel() for p in module.parameters())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    if n_params * batch_size < _SINGLE_THREAD_WORK or cores == 1:
        return 1
    return cores


def _as_list(values: torch.Tensor | None) -> list[float] | None:
    return None if values is None else [float(v) for v in values]
