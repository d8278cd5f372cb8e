"""Training the networks of a run, the same way in every mode.

`train_network` trains one network: the network, its loop settings, its loss and its early
stopping are built here and nowhere else, whether the batches come from rows in memory or from a
file read again every epoch (`multitag.training.batches`), and whether gradients are summed in
this process or over several (`DistributedTrainer`). `fit_in_memory` trains the networks of an
in-memory run:

Cross-fitting (the default for `ensemble > 1`): the training rows are cut into N label-stratified
folds; network i trains on the other folds and early-stops on fold i. Every training row then
has an out-of-fold probability from a network that never saw it, so the decision rule is tuned
on *all* training rows instead of a small validation slice, and no row is wasted on validation
only. The networks train in forked worker processes, one per core (`multitag.training.parallel`),
or one after another.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from multitag.options import AUTO, TrainOptions


@dataclass
class MemberFit:
    """One trained network, its training result, and its probabilities for the rows it did
    not train on (out-of-fold), with their indices."""

    network: Any
    result: Any
    held_out_rows: np.ndarray
    held_out_proba: np.ndarray | None
    held_out_linear: np.ndarray | None = None  # --blend linear: the linear model's margins


@dataclass(frozen=True)
class NetworkSpec:
    """What every network of a run shares: resolved options, sizes, the labels constant in the
    training data (pinned), how gradients are summed (`trainer_class`) and the callbacks."""

    options: TrainOptions
    n_features: int
    n_labels: int
    never: np.ndarray
    always: np.ndarray
    trainer_class: type
    callbacks: Sequence[Any] = ()


@dataclass
class Networks:
    """The trained networks of a run as one module, their combined result, and the held-out
    rows' labels and probabilities the decision rule is tuned on."""

    module: Any
    result: Any
    member_results: list[Any]
    Y_held: np.ndarray
    P_held: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)
    splits: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    blend_account: str = ""  # --blend linear: the weights tried and the one kept
    choice: Any = None  # the decision rule tuned on P_held, when the blend already tuned it


def train_network(spec: NetworkSpec, train: Any, valid: tuple[Any, Any] | None, seed: int,
                  positives: tuple[np.ndarray, int], callbacks: Sequence[Any] | None = None
                  ) -> tuple[Any, Any]:
    """One network trained on `train` ((X, Y) rows, or a batch source with Y None),
    early-stopping on `valid`; `positives` (count per label, rows) sets pos_weight 'auto'.
    Returns the network and the Trainer's result."""
    import torch

    from multitag.decision.selection import objective_scorer
    from multitag.models.mlp import MLP, pin_constant_labels

    options = spec.options
    torch.manual_seed(seed)
    network = MLP(spec.n_features, spec.n_labels, tuple(options.hidden), options.dropout,
                  linear_skip=options.linear_skip)
    config = trainer_config(options, seed, valid is not None, loss_spec(options, *positives))
    scorer = objective_scorer(options.objective) if config.monitor == "score" else None
    X, Y = train if isinstance(train, tuple) else (train, None)
    trainer = spec.trainer_class(config, spec.callbacks if callbacks is None else callbacks,
                                 scorer)
    result = trainer.fit(network, X, Y, *(valid or (None, None)))
    pin_constant_labels(network, spec.never, spec.always)
    return network, result


def trainer_config(options: TrainOptions, seed: int, validated: bool, loss: Any) -> Any:
    """The loop settings of one network (early stopping only with validation rows)."""
    from multitag.training.config import TrainConfig

    return TrainConfig(
        epochs=options.epochs, batch_size=options.batch_size,
        learning_rate=options.learning_rate, optimizer=options.optimizer,
        weight_decay=options.weight_decay, lr_schedule=options.lr_schedule,
        early_stopping_patience=options.early_stopping_patience if validated else None,
        seed=seed, threads=None if options.threads == AUTO else options.threads, loss=loss,
        monitor="score" if options.early_stopping_monitor == "objective" else "loss",
        device=options.device, mixed_precision=options.mixed_precision)


def loss_spec(options: TrainOptions, positives: np.ndarray, n_rows: int) -> Any:
    """The loss; `pos_weight='auto'` from the positives of the network's training rows."""
    from multitag.models.losses import loss_spec_from, pos_weight_from_counts

    weights = options.pos_weight
    if weights == "auto":
        weights = tuple(float(w) for w in pos_weight_from_counts(positives, n_rows))
    return loss_spec_from(options.loss, weights, **dict(options.loss_options))


def fit_in_memory(X: Any, Y: np.ndarray, spec: NetworkSpec) -> Networks:
    """The networks of an in-memory (or distributed) run on its member splits."""
    options = spec.options
    splits = member_splits(Y, options.ensemble, options.validation_split,
                           options.validation_strategy, options.seed)
    n_jobs = jobs_for(options, len(splits), spec.trainer_class)
    if options.blend == "linear":
        import scipy.optimize  # noqa: F401  (once here, not in every worker process)
    announce(spec.callbacks, "on_networks_begin", len(splits), n_jobs)
    started = time.perf_counter()

    def one(i: int) -> MemberFit:
        train_rows, valid_rows = splits[i]
        valid = (X[valid_rows], Y[valid_rows]) if len(valid_rows) else None
        counts = (np.asarray(Y[train_rows].sum(axis=0)).ravel(), len(train_rows))
        network, result = train_network(spec, (X[train_rows], Y[train_rows]), valid,
                                        options.seed + i, counts,
                                        callbacks=None if n_jobs == 1 else
                                        worker_callbacks(spec.callbacks, i))
        held_out = held_out_scores(network, X[valid_rows]) if len(valid_rows) else None
        linear = None
        if options.blend == "linear":
            from multitag.pipeline.blend import fit_fold_linear

            linear = fit_fold_linear(X, Y, train_rows, valid_rows)
        return MemberFit(network, result, valid_rows, held_out, linear)

    fits = run_members(len(splits), one, n_jobs,
                       lambda event: relay_event(spec.callbacks, event))
    seconds = time.perf_counter() - started
    results = [fit.result for fit in fits]
    announce(spec.callbacks, "on_networks_end", results, seconds)
    proba, held = out_of_fold_proba(fits, *Y.shape)
    module = fits[0].network if len(fits) == 1 else _ensemble([f.network for f in fits])
    config = trainer_config(options, options.seed, bool(len(splits[0][1])),
                            loss_spec(options, np.asarray(Y.sum(axis=0)).ravel(), len(Y)))
    networks = Networks(module, combined_result(results, seconds), results, Y[held],
                        proba[held], config.to_dict(), splits)
    if options.blend == "linear" and held.any():
        from multitag.pipeline.blend import blend_linear

        margins, _ = out_of_fold_proba(fits, *Y.shape, attribute="held_out_linear")
        networks = blend_linear(networks, X, Y, margins[held], options)
    return networks


def held_out_scores(network: Any, X: Any) -> np.ndarray:
    from multitag.models.inference import predict_scores

    return predict_scores(network, X)


def _ensemble(networks: list[Any]) -> Any:
    from multitag.models.ensemble import Ensemble

    return Ensemble(networks)


def announce(callbacks: Sequence[Any], hook: str, *args: Any) -> None:
    """Call `hook(*args)` on every callback that has it."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


def jobs_for(options: TrainOptions, n_members: int, trainer_class: type) -> int:
    """Worker processes for `n_members` networks: one per core (or `n_jobs`), one when the
    networks train on a GPU or over a process group (they take turns)."""
    if n_members == 1 or getattr(trainer_class, "distributed", False):
        return 1
    if options.device not in ("auto", "cpu"):
        return 1
    if options.device == "auto":
        from multitag.training.trainer import resolve_device

        if resolve_device("auto").type != "cpu":
            return 1
    if options.n_jobs != AUTO:
        return max(1, min(options.n_jobs, n_members))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(1, min(cores, n_members))


def run_members(n_members: int, train_one: Callable[[int], MemberFit], n_jobs: int = 1,
                on_event: Callable[[Any], None] | None = None) -> list[MemberFit]:
    """Members 0..n-1 by `train_one(i)`, in worker processes when `n_jobs > 1` (their
    progress events go to `on_event`)."""
    if n_jobs <= 1 or n_members == 1:
        return [train_one(i) for i in range(n_members)]
    from multitag.training.parallel import run_in_processes

    return run_in_processes(train_one, range(n_members), n_jobs, on_event)


def worker_callbacks(callbacks: Sequence[Any], index: int) -> list[Any]:
    """What a network trained in a worker process gets: the callbacks that work there
    (checkpoints), and one that sends its progress to the parent."""
    from multitag.training.callbacks import Callback

    class ForwardProgress(Callback):
        def on_train_begin(self, trainer: Any, n_epochs: int) -> None:
            _emit(("begin", index, n_epochs))

        def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
            _emit(("epoch", index, dict(record)))

        def on_train_end(self, trainer: Any, result: Any) -> None:
            _emit(("end", index, {"epochs": len(result.history), "best_epoch":
                                  result.best_epoch, "stopped_early": result.stopped_early,
                                  "seconds": result.fit_seconds}))

    return [c for c in callbacks if getattr(c, "in_workers", False)] + [ForwardProgress()]


def _emit(event: Any) -> None:
    from multitag.training.parallel import emit

    emit(event)


def relay_event(callbacks: Sequence[Any], event: Any) -> None:
    """A worker's (kind, network index, payload) as `on_network_<kind>(index, payload)`."""
    kind, index, payload = event
    announce(callbacks, f"on_network_{kind}", index, payload)


def member_splits(Y: np.ndarray, n_members: int, validation_split: float, strategy: str,
                  seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, validation rows) per member: N cross-fitting folds, or one validation
    split of `validation_split` (`strategy`: stratified, random or tail)."""
    if n_members > 1:
        fold = fold_assignment(Y, n_members, seed)
        return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i))
                for i in range(n_members)]
    return [validation_rows(Y, validation_split, strategy, seed)]


def validation_rows(Y: np.ndarray, fraction: float, strategy: str, seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) with about `fraction` of the rows for validation
    (none when that would leave either side empty)."""
    n_rows = Y.shape[0]
    n_valid = int(n_rows * fraction)
    if n_valid < 1 or n_rows - n_valid < 1:
        return np.arange(n_rows), np.arange(0)
    if strategy == "tail":
        return np.arange(n_rows - n_valid), np.arange(n_rows - n_valid, n_rows)
    from multitag.data.splits import assign

    share = n_valid / n_rows
    part = assign(Y, [1 - share, share], method=strategy, seed=seed)
    return np.flatnonzero(part == 0), np.flatnonzero(part == 1)


def fold_assignment(Y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold index 0..n_folds-1 per row, stratified over the labels (iterative stratification)."""
    from multitag.data.splits import assign

    return assign(Y, [1.0 / n_folds] * n_folds, method="stratified", seed=seed)


def out_of_fold_proba(fits: Sequence[MemberFit], n_rows: int, n_labels: int,
                      attribute: str = "held_out_proba") -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities (or another held-out `attribute`) of every held-out row,
    averaged where a row was held out by several members, and the mask of rows that have
    one."""
    total = np.zeros((n_rows, n_labels))
    counts = np.zeros(n_rows)
    for fit in fits:
        values = getattr(fit, attribute)
        if values is not None:
            total[fit.held_out_rows] += values
            counts[fit.held_out_rows] += 1
    seen = counts > 0
    total[seen] /= counts[seen, None]
    return total, seen


def combined_result(results: Sequence[Any], seconds: float) -> Any:
    """One result for several networks: the first network's history, the rounded mean best
    epoch, the wall time of all of them."""
    first = results[0]
    if len(results) == 1:
        return first
    return replace(first, best_epoch=round(float(np.mean([r.best_epoch for r in results]))),
                   stopped_early=all(r.stopped_early for r in results), fit_seconds=seconds)
