"""Data-parallel training on several processes or machines with `torch.distributed`.

Launched by `torchrun` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT);
gloo on CPU, nccl when the network runs on a GPU. Every process reads the file, makes the same
train/validation split and keeps only its shard of the training rows: row i of the training part
belongs to rank i % world_size.

Why the result equals single-process training: every epoch all ranks draw the same permutation
of all training rows (same seed) and cut it into the same global batches of `batch_size` rows;
each rank trains on the members of the batch it owns. A rank's gradient of its local mean loss,
scaled by n_local / n_batch and summed over ranks by one all-reduce, is exactly the gradient of
the mean loss over the whole global batch, so each optimizer step is the single-process step up
to float summation order (dropout masks differ, so with dropout > 0 the runs agree only in
distribution). The all-reduce is the same collective DDP's reducer uses; it is called directly
because DDP's module wrapper averages per-rank means with equal weights (wrong when a batch
splits unevenly) and cannot hook into the hand-written backward pass of `fast_backprop`, which
stays on: it computes the same gradients, and the all-reduce is the same for both. Measured
(benchmarks/distributed.py, 2 processes on a shared 2-core machine, load 5-10), the fast path
gave no gain under 2 processes (fit 1.99 s vs 1.66 s with autograd; 4.28 s vs 3.78 s) while it
is 1.2-1.35x faster in one process; the differences are within this machine's noise.

Validation loss is summed over contiguous slices of the validation rows, one per rank, and
all-reduced; the validation objective (early stopping on micro-F1 etc.) is computed by every rank
on all validation rows, identically; test predictions are gathered from contiguous slices.
`pos_weight='auto'` is counted on all training rows by the pipeline, before sharding. Every row
counts exactly once (no padding with repeated rows), so the numbers do not depend on the number
of processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.distributed as dist
from torch import nn

from multitag.data.dataset import data_fingerprint
from multitag.exceptions import ConfigError, MultitagError, TrainingError
from multitag.training.batches import TensorData
from multitag.training.trainer import Trainer, choose_threads

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_TIMEOUT_SECONDS = 1800.0


class DistributedError(MultitagError, RuntimeError):
    """The process group cannot start, or the ranks disagree (data, timeout)."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
                  use_gpu: bool = False) -> DistContext:
    """Join the process group described by torchrun's environment variables."""
    missing = [name for name in _ENV if name not in os.environ]
    if missing:
        raise ConfigError(
            f"--distributed needs the environment torchrun sets ({', '.join(missing)} missing); "
            "launch with `torchrun --nproc-per-node N -m multitag train ... --distributed`")
    if not timeout_seconds > 0:
        raise ConfigError(f"`--dist-timeout` must be > 0 seconds; got {timeout_seconds}")
    backend = "nccl" if use_gpu and torch.cuda.is_available() else "gloo"
    ctx = DistContext(
        rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")), backend=backend)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, rank=ctx.rank, world_size=ctx.world_size,
                                    timeout=timedelta(seconds=timeout_seconds))
        except (RuntimeError, ValueError) as err:
            first = _first_line(err)
            raise DistributedError(
                f"rank {ctx.rank}: could not join the process group of {ctx.world_size} at "
                f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} within "
                f"{timeout_seconds:g} s ({first}); check that every rank was started and can "
                "reach the endpoint") from err
    return ctx


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> Iterator[DistContext]:
    """`init_from_env` ... `shutdown`; a peer that times out or vanishes is a clear error."""
    ctx = init_from_env(timeout_seconds)
    try:
        yield ctx
    except RuntimeError as err:
        if isinstance(err, MultitagError) or not _is_peer_failure(err):
            raise
        raise DistributedError(
            f"rank {ctx.rank}: another rank failed, stopped or did not answer within "
            f"{timeout_seconds:g} s ({_first_line(err)}); see that rank's output") from err
    finally:
        shutdown()


def _is_peer_failure(err: RuntimeError) -> bool:
    text = str(err).lower()
    return isinstance(err, dist.DistError) or any(
        word in text for word in ("timed out", "connection closed", "connection reset", "gloo"))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def current_context() -> DistContext:
    """The context of an initialised process group (for code below the CLI)."""
    if not dist.is_initialized():
        raise ConfigError("distributed training needs an initialised process group; "
                          "run under torchrun with --distributed")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                       local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                       local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
                       backend=dist.get_backend())


def check_same_data(ctx: DistContext, data: Any, what: str) -> None:
    """Fail on every rank, with the differing fields, if the ranks did not read the same data."""
    mine = data_fingerprint(data.X, data.Y, data.feature_names, data.label_names)
    everyone: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(everyone, mine)
    differing = sorted({key for other in everyone for key in mine if other[key] != mine[key]})
    if differing:
        summary = "; ".join(
            f"rank {r}: " + ", ".join(f"{k}={fp[k]}" for k in differing)
            for r, fp in enumerate(everyone))
        raise DistributedError(
            f"rank {ctx.rank}: the ranks read different {what} ({data.name or 'data'}); they "
            f"differ in {', '.join(differing)} ({summary}); every rank must read the same file")


def contiguous_part(n_rows: int, rank: int, world_size: int) -> slice:
    """Rows [start, stop) of `rank` when n_rows are cut into world_size near-equal parts."""
    bounds = np.linspace(0, n_rows, world_size + 1).round().astype(int)
    return slice(int(bounds[rank]), int(bounds[rank + 1]))


def gather_rows(ctx: DistContext, part: np.ndarray) -> np.ndarray:
    """Every rank's contiguous part, concatenated in rank order, on every rank."""
    parts: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(parts, part)
    return np.concatenate(parts, axis=0)


def predict_proba_gathered(ctx: DistContext, bundle: Any, data: Any) -> np.ndarray:
    """Probabilities for all rows: each rank predicts one contiguous part; gathered in order."""
    part = contiguous_part(data.n_samples, ctx.rank, ctx.world_size)
    return gather_rows(ctx, bundle.predict_proba(data.subset(np.arange(part.start, part.stop))))


class DistributedTrainer(Trainer):
    """A `Trainer` whose steps average gradients over the process group (see module doc)."""

    distributed = True  # its networks take turns: each one runs on every process

    def fit(self, module: nn.Module, X: Any, Y: Any, X_valid: Any = None,
            Y_valid: Any = None) -> Any:
        """Train on this rank's shard of (X, Y); X and Y are all training rows."""
        self.ctx = current_context()
        self.n_global = int(X.shape[0])
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)
        if self.config.threads is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
                os.cpu_count() or 1)
            share = max(cores // max(self.ctx.local_world_size, 1), 1)
            threads = min(choose_threads(module, self.config.batch_size), share)
            from dataclasses import replace
            self.config = replace(self.config, threads=threads)
        own = np.arange(self.ctx.rank, self.n_global, self.ctx.world_size)
        return super().fit(module, X[own], Y[own], X_valid, Y_valid)

    def train_epoch(self, module, optimizer, data, generator, fast, epoch, *rest) -> float:
        """One pass over the global batches; returns the mean global batch loss."""
        cfg, world, rank = self.config, self.ctx.world_size, self.ctx.rank
        order = (torch.randperm(self.n_global, generator=generator) if cfg.shuffle
                 else torch.arange(self.n_global))
        reducing = _AllReduceStep(optimizer)
        losses = []
        for batch in order.split(cfg.batch_size):
            local = (batch[batch % world == rank] // world).numpy()
            reducing.scale = len(local) / len(batch)
            if len(local):
                x, y = _rows(data, local)
                losses.append(self.train_step(module, reducing, x, y, fast, *rest)
                              * reducing.scale)
            else:
                reducing.zero_grads()
                reducing.step()
                losses.append(torch.zeros(()))
        batch_losses = torch.stack(losses).to(torch.float64)
        dist.all_reduce(batch_losses)
        if not torch.isfinite(batch_losses).all():
            bad = int(torch.nonzero(~torch.isfinite(batch_losses))[0, 0]) + 1
            raise TrainingError(
                f"training diverged: the loss became {batch_losses[bad - 1].item()} in epoch "
                f"{epoch}, batch {bad}; try a lower learning rate (now {cfg.learning_rate:g})")
        return float(batch_losses.mean())

    def validation_loss(self, module, data, *args: Any, **kwargs: Any) -> float:
        """The mean loss over all validation rows: each rank sums one contiguous part."""
        part = contiguous_part(data.n_rows, self.ctx.rank, self.ctx.world_size)
        total = torch.zeros((), dtype=torch.float64)
        if part.stop > part.start:
            local = _slice(data, part)
            mean = super().validation_loss(module, local, *args, **kwargs)
            total += mean * local.n_rows
        dist.all_reduce(total)
        return float(total) / max(data.n_rows, 1)


class _AllReduceStep:
    """Wraps the optimizer: before each step, gradients are scaled by this rank's share of the
    global batch and summed over all ranks in one all-reduce of a flat buffer."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self.params = [p for group in _param_lists(optimizer) for p in group]
        self.scale = 1.0

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def zero_grads(self) -> None:
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            else:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        flat = torch.cat([g.reshape(-1) for g in grads]).mul_(self.scale)
        dist.all_reduce(flat)
        for p, chunk in zip(self.params, flat.split([g.numel() for g in grads])):
            if p.grad is None:
                p.grad = chunk.view_as(p).clone()
            else:
                p.grad.copy_(chunk.view_as(p))
        self.optimizer.step()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


def _param_lists(optimizer: Any) -> list[list[torch.Tensor]]:
    if hasattr(optimizer, "params"):
        return [list(optimizer.params)]
    return [list(group["params"]) for group in optimizer.param_groups]


def _rows(data: TensorData, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return data.rows(index)


def _slice(data: TensorData, part: slice) -> TensorData:
    X = data.X[part] if sp.issparse(data.X) else data.X[part].numpy()
    Y = data.Y[part] if sp.issparse(data.Y) else data.Y[part].numpy()
    return TensorData(X, Y)
