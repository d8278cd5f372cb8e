"""Training checkpoints: stop at any moment, resume exactly where the run stopped, no pickle.

A checkpoint is a directory `seed-S/epoch-NNNNNN/` (S: the network's seed) holding
- `state.safetensors`: module weights (`module.`), optimizer tensors (`optim.`), the best weights
  so far (`best.`) and the RNG states as uint8 tensors (`rng.shuffle`, `rng.torch`);
- `checkpoint.json`: epoch, best loss, early-stopping counter, learning rate (inside the optimizer
  state), history, elapsed seconds, the training configuration, the caller's run description
  (e.g. the CLI's options), a fingerprint of the training data, the SHA-256 of the tensor file
  and `sha256`, the SHA-256 of the canonical JSON of all the rest: both files are covered.

Each is built in a hidden temporary directory and renamed into place; the two newest are kept,
so a damaged newest checkpoint (SHA-256 or structure mismatch) falls back to the one before.
checkpoint.json is data: read within bounds, every field checked for type and range (`META`),
and the tensors against the network's before anything is restored; a problem is one
`CheckpointError` line.
Files are not fsync'd, like `multitag.fileio` (that cost ~25 ms per checkpoint here): a killed
process loses nothing, and after an OS crash a checkpoint the disk never received fails its
SHA-256 check instead of being used. Restoring a checkpoint at an epoch boundary continues the
run bit-for-bit on CPU with the same thread count.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import torch

from multitag.data.dataset import data_fingerprint
from multitag.exceptions import CheckpointError, TrainingInterrupted
from multitag.fileio import plain_json
from multitag.training.checkpoint_files import (
    FORMAT,
    META_FILE,
    STATE_FILE,
    VERSION,
    Snapshot,
    flatten,
    list_checkpoints,
    one_line,
    prune,
    read_checkpoint,
    unflatten,
    write_checkpoint,
)
from multitag.training.trainer import Callback, Trainer, TrainState, next_learning_rate

__all__ = ["META_FILE", "STATE_FILE", "Checkpointer", "Snapshot", "capture", "check_run_info",
           "check_same_run", "describe_run", "list_checkpoints", "read_checkpoint", "restore",
           "write_checkpoint"]

@dataclass
class Checkpointer(Callback):
    """Saves the training state every `every` epochs and/or `minutes` minutes (checked at epoch
    ends) into `directory/seed-S/` (S: the network's training seed, so that the networks of an
    ensemble trained one after another each keep their own); with `resume`, a network whose
    directory holds a checkpoint restores the newest good one before training.

    `run_info` (JSON) describes the run beyond the training configuration, e.g. the CLI's
    options: a resume whose configuration, run description or training data differ is refused.
    `request_stop()` (e.g. from a SIGINT handler) saves at the end of the current epoch and
    raises `TrainingInterrupted`. The request is a process-shared event: networks trained in
    forked worker processes (each with this checkpointer's copy, `in_workers`) see it too.
    """

    in_workers: ClassVar[bool] = True  # forked training workers keep it (training.parallel)

    directory: Path
    every: int = 1
    minutes: float | None = None
    resume: bool = False
    run_info: dict[str, Any] = field(default_factory=dict)
    keep: int = 2
    network: Path | None = field(default=None, init=False)
    last_epoch: int | None = field(default=None, init=False)
    resumed_from: int | None = field(default=None, init=False)
    notices: list[str] = field(default_factory=list, init=False)
    training: bool = field(default=False, init=False)
    _stop: Any = field(default=None, init=False)
    _last_save: float = field(default=0.0, init=False)
    _run: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self._stop = _shared_event()

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def active(self) -> bool:
        """Whether a network is training with this checkpointer (here or in workers)."""
        return self.training or self.network is not None

    def on_networks_begin(self, n_networks: int, n_jobs: int) -> None:
        self.training = True

    def exists(self) -> bool:
        """Whether any network has a checkpoint in `directory`."""
        return bool(self.networks_with_checkpoints())

    # -- callback hooks ----------------------------------------------------------------------
    def on_loop_start(self, trainer: Trainer, state: TrainState) -> None:
        self.network = self.directory / f"seed-{trainer.config.seed}"
        self.last_epoch = self.resumed_from = None
        self._last_save = time.monotonic()
        self._run = describe_run(trainer, state, self.run_info)
        if list_checkpoints(self.network):
            if not self.resume:
                raise CheckpointError(
                    f"{self.directory}: holds a checkpoint of an unfinished run; resume it "
                    "(--resume) or remove that directory to start over")
            snapshot = self.latest(self.network)
            check_same_run(snapshot, self._run)  # its configuration is the run's
            restore(state, snapshot)
            check_stored_learning_rate(snapshot)
            self.resumed_from = self.last_epoch = snapshot.epoch
        elif self.resume and not self.exists():
            raise CheckpointError(f"{self.directory}: no checkpoint to resume from")

    def on_epoch_complete(self, trainer: Trainer, state: TrainState) -> None:
        due = bool(self.every) and state.epoch % self.every == 0
        if self.minutes is not None:
            due = due or time.monotonic() - self._last_save >= self.minutes * 60
        stop = self.stop_requested
        if due or stop:
            self.save(trainer, state)
        if stop:
            raise TrainingInterrupted(
                f"interrupted after epoch {state.epoch}; checkpoint saved in {self.network}",
                epoch=state.epoch, checkpoint=self.network)

    # -- saving and loading ------------------------------------------------------------------
    def save(self, trainer: Trainer, state: TrainState) -> Path:
        """Write the state after `state.epoch` atomically; drop all but the newest `keep`."""
        tensors, meta = capture(state)
        meta.update(self._run)
        path = write_checkpoint(self.network, f"epoch-{state.epoch:06d}", tensors, meta)
        prune(self.network, self.keep)
        self.last_epoch, self._last_save = state.epoch, time.monotonic()
        return path

    def latest(self, network: Path | None = None) -> Snapshot:
        """The newest checkpoint of `network` (default: the first network that has one) that
        reads back intact; damaged newer ones become notices."""
        if network is None:
            network = next(iter(self.networks_with_checkpoints()), self.directory)
        found = list_checkpoints(network)
        if not found:
            raise CheckpointError(f"{self.directory}: no checkpoint to resume from (training "
                                  "finished, or never reached the end of an epoch)")
        problems = []
        for path in found:
            try:
                snapshot = read_checkpoint(path)
            except CheckpointError as err:
                problems.append(str(err))
                continue
            self.notices.extend(f"{p}; resuming from epoch {snapshot.epoch} instead"
                                for p in problems)
            return snapshot
        raise CheckpointError(f"{network}: every checkpoint is damaged: " + "; ".join(problems))

    def networks_with_checkpoints(self) -> list[Path]:
        """The directory of every network that has a checkpoint."""
        return [d for d in self._network_dirs() if list_checkpoints(d)]

    def _network_dirs(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(d for d in self.directory.glob("seed-*") if d.is_dir())


def capture(state: TrainState) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The loop state as tensors (safetensors) and JSON."""
    tensors = {f"module.{k}": v for k, v in state.module.state_dict().items()}
    optimizer = flatten(state.optimizer.state_dict(), "optim", tensors)
    if state.best_state is not None:
        tensors.update({f"best.{k}": v for k, v in state.best_state.items()})
    tensors["rng.shuffle"] = state.generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    result = state.result
    meta = {
        "format": FORMAT, "version": VERSION, "epoch": state.epoch,
        "best_loss": state.best_loss if np.isfinite(state.best_loss) else None,
        "waited": state.waited, "elapsed_seconds": state.elapsed,
        "has_best_state": state.best_state is not None, "optimizer": optimizer,
        "history": plain_json(result.history), "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early, "torch_version": torch.__version__,
    }
    return {k: v.detach().contiguous() for k, v in tensors.items()}, meta


def restore(state: TrainState, snapshot: Snapshot) -> None:
    """Put a verified snapshot back into the loop state, in place, once every tensor and the
    optimizer state are known to fit this network (names, shapes, dtypes, structure)."""
    tensors, meta = snapshot.tensors, snapshot.meta
    try:
        weights = state.module.state_dict()
        module = _matching(tensors, "module.", weights)
        best = _matching(tensors, "best.", weights) if meta["has_best_state"] else None
        optimizer = unflatten(meta["optimizer"], tensors)
        _fits(optimizer, state.optimizer.state_dict(), "optimizer")
        state.module.load_state_dict(module)
        state.optimizer.load_state_dict(optimizer)
        state.best_state = best
        state.generator.set_state(tensors["rng.shuffle"])
        torch.set_rng_state(tensors["rng.torch"])
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise CheckpointError(f"{snapshot.path}: does not fit this network "
                              f"({one_line(err)})") from err
    state.epoch = snapshot.epoch
    state.best_loss = np.inf if meta["best_loss"] is None else float(meta["best_loss"])
    state.waited, state.elapsed = int(meta["waited"]), float(meta["elapsed_seconds"])
    state.result.history = list(meta["history"])
    state.result.best_epoch = int(meta["best_epoch"])
    state.result.stopped_early = bool(meta["stopped_early"])


def check_stored_learning_rate(snapshot: Snapshot) -> None:
    """`check_learning_rate` against the snapshot's own training configuration, before any
    network is built: that configuration must equal the run's (checked as each network
    starts), so an edited rate is refused before the resume begins."""
    try:
        config = snapshot.meta["config"]
        cfg = SimpleNamespace(learning_rate=float(config["learning_rate"]),
                              lr_schedule=str(config["lr_schedule"]),
                              epochs=int(config["epochs"]))
        optimizer = unflatten(snapshot.meta["optimizer"], snapshot.tensors)
        inner = optimizer.get("torch_optimizer")
        lr = float(inner["param_groups"][0]["lr"] if inner is not None else optimizer["lr"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise CheckpointError(f"{snapshot.path}: its optimizer state or training configuration "
                              f"is malformed ({one_line(err)})") from err
    check_learning_rate(cfg, snapshot, lr)


def check_learning_rate(cfg: Any, snapshot: Snapshot, lr: float) -> None:
    """Refuse a checkpoint whose learning rate the run's options cannot have produced by its
    epoch (the options must match the command's, so an edited rate would go unnoticed
    otherwise): the start rate (constant), the cosine value at that epoch, or the start rate
    divided by a power of 5 down to its floor (plateau)."""
    start = float(cfg.learning_rate)
    if cfg.lr_schedule == "cosine":
        allowed = [next_learning_rate(cfg, snapshot.epoch, start, True, 0)]
    elif cfg.lr_schedule == "plateau":
        allowed = [max(start / 5.0 ** k, start * 1e-3) for k in range(6)]
    else:
        allowed = [start]
    if not any(math.isclose(lr, a, rel_tol=1e-9) for a in allowed):
        raise CheckpointError(f"{snapshot.path}: the optimizer's learning rate {lr!r} is not "
                              f"one --learning-rate {start:g} with --lr-schedule "
                              f"{cfg.lr_schedule} gives at epoch {snapshot.epoch}; the "
                              "checkpoint was edited; remove the checkpoint directory to start "
                              "over")


def describe_run(trainer: Trainer, state: TrainState, run_info: dict[str, Any]) -> dict[str, Any]:
    """What must match for a resume: configuration, run description, data, network shapes."""
    return {
        "config": plain_json(trainer.config.to_dict()), "run": plain_json(run_info),
        "data_fingerprint": _fingerprint(state),
        "parameters": {k: list(v.shape) for k, v in state.module.state_dict().items()},
    }


def check_run_info(snapshot: Snapshot, run_info: dict[str, Any]) -> None:
    """Refuse a resume whose run description (e.g. CLI options) differs from the checkpoint's."""
    _compare(snapshot, "run", "options", plain_json(run_info))


def check_same_run(snapshot: Snapshot, current: dict[str, Any]) -> None:
    """Refuse a resume whose options, data or network differ from the checkpoint's."""
    saved = snapshot.meta
    _compare(snapshot, "run", "options", current["run"])
    _compare(snapshot, "config", "training configuration", current["config"])
    if saved.get("parameters") != current["parameters"]:
        raise CheckpointError(f"{snapshot.path.parent}: cannot resume: the network's shape "
                              "differs from the checkpoint's")
    if saved.get("data_fingerprint") != current["data_fingerprint"]:
        raise CheckpointError(
            f"{snapshot.path.parent}: cannot resume: the training data differ from the data "
            "the checkpoint was trained on (same file, reader options and seed are needed)")


def _compare(snapshot: Snapshot, key: str, what: str, new: dict[str, Any]) -> None:
    old = snapshot.meta.get(key) or {}
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if changed:
        detail = ", ".join(f"{k}: {one_line(old.get(k))} -> {one_line(new.get(k))}"
                           for k in changed[:4])
        raise CheckpointError(
            f"{snapshot.path.parent}: cannot resume: the {what} differ from the checkpoint's "
            f"({detail}); rerun with the original options, or remove that directory to start "
            "over")


def _fingerprint(state: TrainState) -> dict[str, Any]:
    """The training and validation rows as the network sees them (a streamed source: its
    size, not its contents)."""
    parts = {}
    for name, data in (("train", state.train), ("valid", state.valid)):
        if data is None or not hasattr(data, "X"):
            parts[name] = None if data is None else f"{type(data).__name__}:{data.n_rows}"
        else:
            parts[name] = data_fingerprint(data.X, data.Y)
    return parts


def _matching(tensors: dict[str, torch.Tensor], prefix: str,
              expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `prefix` tensors, when their names, shapes and dtypes are those of `expected`."""
    found = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if set(found) != set(expected) or any(
            found[k].shape != v.shape or found[k].dtype != v.dtype for k, v in expected.items()):
        raise ValueError(f"the {prefix[:-1]!r} tensors differ from the network's")
    return found


def _fits(saved: Any, current: Any, where: str) -> None:
    """`saved` (an optimizer state read back) has the structure of this optimizer's `current`
    one: the same keys, list lengths, tensor shapes and dtypes, a number for a number (an empty
    dict in `current` is state the optimizer creates on its first step: anything fits)."""
    if isinstance(current, torch.Tensor):
        ok = isinstance(saved, torch.Tensor) and saved.shape == current.shape \
            and saved.dtype == current.dtype
    elif isinstance(current, dict):
        ok = isinstance(saved, dict) and (not current or set(saved) == set(current))
    elif isinstance(current, list | tuple):
        ok = isinstance(saved, list) and len(saved) == len(current)
    else:
        numbers = all(type(v) in (int, float) for v in (saved, current))
        ok = numbers or type(saved) is type(current)
    if not ok:
        raise ValueError(f"{where} differs from this optimizer's state")
    if isinstance(current, dict) and current:
        for key, value in current.items():
            _fits(saved[key], value, f"{where}.{key}")
    elif isinstance(current, list | tuple):
        for i, (mine, theirs) in enumerate(zip(saved, current)):
            _fits(mine, theirs, f"{where}[{i}]")


def _shared_event() -> Any:
    """An event shared with the worker processes forked later (a plain flag without fork)."""
    import multiprocessing
    import threading

    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork").Event()
    return threading.Event()
