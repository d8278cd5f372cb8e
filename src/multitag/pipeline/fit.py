"""`train(data, options)`: the one training entry point. `multitag train` (in memory,
`--stream`, `--distributed`, `--model auto`), `compare`, `curve` and the estimator's `fit` all
go through it:

    data -> prepare (fit the preprocessor)  -> resolve the `auto` options from the data's shape
         -> train the network(s) or linear model -> choose and tune the decision rule
         -> (--model auto) keep the best candidate -> ModelBundle

In-memory, streamed and distributed runs differ only in where the batches come from
(`prepare_memory` / `prepare_stream`) and how gradients are summed (`Trainer` /
`DistributedTrainer`). Library code: notices go to `notify` as they happen, progress to the
callbacks; nothing is printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multitag.data.chunks import ChunkedFile
from multitag.data.dataset import Dataset
from multitag.decision.selection import RuleChoice
from multitag.options import AUTO, LINEAR_MODELS, TrainOptions
from multitag.pipeline.defaults import (
    DISTRIBUTED,
    MEMORY,
    STREAM,
    check_mode,
    check_network_fits,
    describe,
    resolve,
)
from multitag.pipeline.inputs import Prepared, prepare_memory
from multitag.pipeline.members import Networks, NetworkSpec, fit_in_memory
from multitag.pipeline.selection import Candidate, choose, decide, linear_candidate


@dataclass
class TrainOutcome:
    """The model directory to be, what training measured, and what the user should know."""

    bundle: Any
    fit_seconds: float
    threads: int
    stopped_early: bool
    best_epoch: int
    notices: list[str] = field(default_factory=list)
    options: TrainOptions | None = None
    held_out: tuple[np.ndarray, np.ndarray] | None = None  # labels, probabilities
    member_results: list[Any] = field(default_factory=list)  # one per network
    module: Any = None  # the trained torch module (the bundle holds its weights in numpy)
    resumed_seconds: float = 0.0  # training before a resume (the longest network's)

    @property
    def total_seconds(self) -> float:
        """This run's time plus the training it resumed from."""
        return self.fit_seconds + self.resumed_seconds


class _Notices(list):
    """Notices kept in order and passed to `notify` the moment they are known."""

    def __init__(self, notify: Callable[[str], None] | None) -> None:
        super().__init__()
        self.notify = notify

    def add(self, *texts: str) -> None:
        for text in texts:
            self.append(text)
            if self.notify is not None:
                self.notify(text)


def train(data: Dataset | ChunkedFile, options: TrainOptions, *, distributed: bool = False,
          callbacks: Sequence[Any] = (), notify: Callable[[str], None] | None = None
          ) -> TrainOutcome:
    """Train on `data` (a Dataset in memory, or a ChunkedFile read chunk by chunk every
    epoch); `distributed` sums gradients over the torch.distributed process group."""
    mode = STREAM if isinstance(data, ChunkedFile) else DISTRIBUTED if distributed else MEMORY
    check_runnable(options, mode)
    import multitag.training.trainer  # noqa: F401  (torch: imported before the clock starts)

    notices = _Notices(notify)
    started = time.perf_counter()
    prepared = _prepare(data, options, mode, callbacks)
    if prepared.shape.n_features == 0:
        from multitag.exceptions import DataFormatError

        raise DataFormatError("no feature left to learn from: every column is a label or was "
                              "left out (" + "; ".join(prepared.notices or ["no columns"])
                              + ")")
    resolved = resolve(options, prepared.shape, mode)
    check_network_fits(resolved.options, prepared.shape)
    options = resolved.options.with_label_names(prepared.label_names)
    notices.add(*prepared.notices)  # once the options hold for this data, before training
    if resolved.chosen:
        notices.add(describe(prepared.shape, resolved.chosen))
    notices.add(*resolved.notices)
    kept, networks = _fit(prepared, options, mode, callbacks, notices)
    bundle = _bundle(prepared, options, kept, networks, mode)
    result = networks.result if networks is not None and kept.name == "mlp" else None
    return TrainOutcome(
        bundle=bundle, fit_seconds=time.perf_counter() - started,
        threads=result.threads if result else 1,
        stopped_early=bool(result and result.stopped_early),
        best_epoch=result.best_epoch if result else 0, notices=list(notices), options=options,
        held_out=kept.held_out, member_results=networks.member_results if result else [],
        module=kept.module,
        resumed_seconds=max((r.resumed_seconds for r in networks.member_results), default=0.0)
        if result else 0.0)


def check_runnable(options: TrainOptions, mode: str = MEMORY) -> None:
    """What can be refused before any data is read: options the mode cannot honour, and a
    training device that is not there."""
    check_mode(options, mode)
    if options.device != AUTO:
        from multitag.training.trainer import resolve_device

        resolve_device(options.device)


def _prepare(data: Any, options: TrainOptions, mode: str, callbacks: Sequence[Any]) -> Prepared:
    if mode == STREAM:
        from multitag.pipeline.streaming import prepare_stream

        return prepare_stream(data, options, callbacks)
    if mode == DISTRIBUTED:
        from multitag.training.distributed import check_same_data, current_context

        check_same_data(current_context(), data, "training data")
    return prepare_memory(data, options)


@dataclass
class _Kept:
    """The model that will be saved: its name, module, rule choice and held-out rows."""

    name: str
    module: Any
    choice: RuleChoice
    held_out: tuple[np.ndarray, np.ndarray] | None = None


def _fit(prepared: Prepared, options: TrainOptions, mode: str, callbacks: Sequence[Any],
         notices: _Notices) -> tuple[_Kept, Networks | None]:
    """The network(s), a linear model, or (--model auto) the best of them."""
    networks = None
    candidates: list[Candidate] = []
    if options.model not in LINEAR_MODELS:
        networks = _networks(prepared, options, mode, callbacks)
        if networks.blend_account:
            notices.add(networks.blend_account)
        if networks.result.pos_weight is not None:
            weights = np.asarray(networks.result.pos_weight)
            notices.add(f"pos_weight per label: min {weights.min():.3g}, median "
                        f"{np.median(weights):.3g}, max {weights.max():.3g} (stored in "
                        "model.json)")
        choice = (networks.choice if networks.choice is not None
                  else decide(options, networks.Y_held, networks.P_held))
        candidates.append(Candidate("mlp", lambda: networks.module, choice,
                                    (networks.Y_held, networks.P_held)))
    if options.model in ("auto", *LINEAR_MODELS):
        from multitag.pipeline.members import member_splits

        splits = networks.splits if networks is not None else member_splits(
            prepared.Y, options.ensemble, options.validation_split,
            options.validation_strategy, options.seed)
        names = LINEAR_MODELS if options.model == "auto" else (options.model,)
        if candidates:
            notices.add(f"--model auto: held-out {options.objective} of mlp "
                        f"{abs(candidates[0].score):.4f}; fitting {', '.join(names)} on the same "
                        "held-out rows ...")
        for name in names:
            started = time.perf_counter()
            candidates.append(linear_candidate(name, prepared.X, prepared.Y, splits, options))
            notices.add(f"{name}: held-out {options.objective} "
                        f"{abs(candidates[-1].score):.4f} ({time.perf_counter() - started:.1f} s)")
    best, account = choose(candidates, options.objective)
    if options.model == "auto":
        notices.add(account)
    if options.decision == AUTO and best.choice.account:
        notices.add(f"decision rule of {best.name}: {best.choice.rule.name} (threshold "
                    f"cross-validation {options.objective}: {best.choice.account})")
    return _Kept(best.name, best.build(), best.choice, best.held_out), networks


def _networks(prepared: Prepared, options: TrainOptions, mode: str,
              callbacks: Sequence[Any]) -> Networks:
    if mode == DISTRIBUTED:  # torch.distributed only when asked for
        from multitag.training.distributed import DistributedTrainer as trainer_class
    else:
        from multitag.training.trainer import Trainer as trainer_class

    spec = NetworkSpec(options, prepared.shape.n_features, len(prepared.label_names),
                       prepared.never, prepared.always, trainer_class, tuple(callbacks))
    if mode == STREAM:
        from multitag.pipeline.streaming import fit_stream

        return fit_stream(prepared, spec)
    return fit_in_memory(prepared.X, prepared.Y, spec)


def _bundle(prepared: Prepared, options: TrainOptions, kept: _Kept,
            networks: Networks | None, mode: str) -> Any:
    from multitag.bundle.directory import ModelBundle
    from multitag.bundle.network import Network

    linear = kept.name != "mlp"
    members = len(getattr(kept.module, "members", [kept.module]))
    architecture = {
        "type": "mlp", "model": kept.name, "n_features": prepared.shape.n_features,
        "n_labels": len(prepared.label_names),
        "hidden": [] if linear else list(options.hidden),
        "dropout": 0.0 if linear else options.dropout,
        "linear_skip": False if linear else options.linear_skip, "members": members}
    if not linear and members > options.ensemble:  # the networks, then a blended linear model
        architecture["linear_member"] = True
    result = networks.result if networks is not None and not linear else None
    training = {**options.to_dict(), "mode": mode, "kept": kept.name,
                "n_train_rows": _train_rows(prepared),
                "pos_weight_used": result.pos_weight if result else None,
                "trainer": _trainer_info(networks) if result else None}
    if mode == STREAM:
        from multitag.pipeline.streaming import stream_training_info

        training["stream"] = stream_training_info(prepared)
    return ModelBundle(
        preprocessor=prepared.preprocessor, network=Network.from_module(kept.module),
        decision_rule=kept.choice.rule, label_names=list(prepared.label_names),
        feature_names=list(prepared.feature_names), architecture=architecture,
        training=training, history=result.history if result else [],
        member_histories=[r.history for r in networks.member_results] if result else [])


def _train_rows(prepared: Prepared) -> int:
    return prepared.stream.n_train_rows if prepared.stream is not None else prepared.n_rows


def _trainer_info(networks: Networks) -> dict[str, Any]:
    """What the training loop was given and used (the first network's, for an ensemble)."""
    from multitag.fileio import plain_json

    result = networks.result
    return plain_json({**networks.config, "device_used": result.device,
                       "threads_used": result.threads, "fast_path": result.fast_path,
                       "networks": len(networks.member_results)})
