"""Training settings chosen from the shape of the data and from the mode, each one overridable.

The principles, measured on the seven Mulan benchmark sets (benchmarks/mulan.py):
- Few rows (under `SMALL_ROWS`): a 10% validation slice is a few dozen rows, too noisy to stop
  training or tune a threshold on. Train `SMALL_ENSEMBLE` cross-fitted networks instead: every
  row is validation data for one of them, the threshold is tuned on all rows' out-of-fold
  probabilities, and averaging removes most of the seed-to-seed spread; unless one epoch is
  large work (`ENSEMBLE_EPOCH_WORK`), where five networks cost five times the time for a
  point of micro-F1.
- The decision rule (`auto`): one global threshold or one per label, whichever scores better
  under threshold cross-validation on the held-out rows (multitag.decision.selection).
- Early stopping watches the objective (micro-F1 at its best threshold) rather than the
  validation loss: on small data the loss turns up while decisions still improve.
- Asymmetric loss (Ridnik et al. 2021) by default: most cells of a multi-label matrix are easy
  negatives; ASL down-weights them, which rare labels need.
- More rows carry a wider layer and larger batches (throughput); sparse, wide input (text)
  gets more dropout.

The mode (in memory, streamed from a file, distributed over processes) decides what it can
honour: an option it cannot is an error naming the mode when the user set it, and a notice
saying what was used instead when it came from a default.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from multitag.exceptions import ConfigError
from multitag.options import AUTO, DEFAULTS, LINEAR_MODELS, OPTIONS, TrainOptions, flag_of

SMALL_ROWS = 5_000
SMALL_ENSEMBLE = 5
LARGE_ROWS = 20_000
SPARSE_DENSITY = 0.1
# Below this many rows cross-fitting leaves folds of one or two rows: one network instead.
FEWEST_CROSS_FIT_ROWS = 10
# Cross-fitted networks when an epoch of one is at most this many multiply-adds: 5 networks
# then train in seconds (medical 0.13 G, scene 0.09 G). Above it one network: bibtex (2.5 G)
# trained 5 in 26 s for micro-F1 0.502 and P@1 0.655, one in 4.4 s for 0.495 and 0.643
# (above Omikuji's and napkinXC's P@1/3/5), measured.
ENSEMBLE_EPOCH_WORK = 1e9
VALIDATION_SPLIT = 0.1
WIDE_RATIO = 2  # rows below this many times the features: wide data
MAX_LINEAR_WEIGHTS = 10_000_000  # features x labels of a blended linear model (80 MB)
MEMORY, STREAM, DISTRIBUTED = "memory", "stream", "distributed"
MODE_FLAGS = {MEMORY: "in memory", STREAM: "--stream", DISTRIBUTED: "--distributed"}


@dataclass(frozen=True)
class DataShape:
    """What the defaults look at."""

    n_rows: int
    n_features: int
    n_labels: int
    density: float

    @property
    def sparse(self) -> bool:
        return self.density < SPARSE_DENSITY


def data_shape(X: Any, Y: Any) -> DataShape:
    """The shape of features `X` (dense or CSR, after preprocessing) and labels `Y`."""
    n_rows, n_features = X.shape
    nonzero = X.nnz if sp.issparse(X) else int(np.count_nonzero(X))
    density = nonzero / max(n_rows * n_features, 1)
    return DataShape(int(n_rows), int(n_features), int(Y.shape[1]), float(density))


def shaped_defaults(shape: DataShape) -> dict[str, Any]:
    """Network settings for data of this shape (`TrainOptions` field names)."""
    small = shape.n_rows < SMALL_ROWS
    large = shape.n_rows >= LARGE_ROWS
    hidden = 512 if large else 256
    cross_fit = (small and shape.n_rows >= FEWEST_CROSS_FIT_ROWS
                 and epoch_work(shape, hidden) <= ENSEMBLE_EPOCH_WORK)
    return {
        "hidden": (hidden,),
        "dropout": 0.5 if shape.sparse else 0.2,
        "batch_size": 256 if large else 128 if not small else 64,
        "epochs": 100,
        "ensemble": SMALL_ENSEMBLE if cross_fit else 1,
        "early_stopping_monitor": "objective",
        "early_stopping_patience": 20 if cross_fit else 10,
        "loss": "asymmetric",
    }


def epoch_work(shape: DataShape, hidden: int) -> float:
    """Multiply-adds of one epoch's forward pass (rows x (inputs x hidden + hidden x labels)):
    what the time of a network grows with."""
    return float(shape.n_rows) * (shape.n_features * hidden + hidden * shape.n_labels)


@dataclass
class Resolved:
    """Options with every `auto` decided, what was chosen from the data, and notices."""

    options: TrainOptions
    chosen: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def check_mode(options: TrainOptions, mode: str) -> None:
    """Refuse, before any data is read, what the mode cannot do with explicit options."""
    refusals = {
        STREAM: [
            (options.model != "mlp", f"--model {options.model} needs every row in memory"),
            (options.ensemble not in (AUTO, 1), f"--ensemble {options.ensemble} cross-fits "
             "on rows held in memory; it trains one network"),
            (options.scale == "tfidf", "--scale tfidf needs every row's document frequencies"),
            (options.validation_strategy in ("stratified", "tail"), "--validation-strategy "
             f"{options.validation_strategy}: streamed rows are held out by a hash of their "
             "position (random)"),
            (options.blend == "linear", "--blend linear fits a linear model on rows held in "
             "memory"),
        ],
        DISTRIBUTED: [
            (options.model in LINEAR_MODELS, f"--model {options.model} has no network to train "
             "over several processes"),
        ],
    }
    flag = MODE_FLAGS[mode]
    for refused, why in refusals.get(mode, []):
        if refused:
            raise ConfigError(f"{flag}: {why}; run without {flag} or change the option")


def resolve(options: TrainOptions, shape: DataShape, mode: str = MEMORY) -> Resolved:
    """Every `auto` of `options` decided for data of `shape` in `mode`."""
    check_mode(options, mode)
    resolved = Resolved(options)
    shaped = shaped_defaults(shape)
    if mode == STREAM:
        shaped["ensemble"] = 1
    linear = options.model in LINEAR_MODELS
    for name, value in shaped.items():
        if getattr(options, name) == AUTO and (not linear or not OPTIONS[name].network):
            resolved.chosen[name] = value
    resolved.chosen["loss"] = _loss(options) if options.loss == AUTO and not linear else None
    if options.blend == AUTO:
        resolved.chosen["blend"] = "none" if linear or mode == STREAM else _blend(shape)
    resolved.chosen = {k: v for k, v in resolved.chosen.items() if v is not None}
    resolved.options = replace(options, **resolved.chosen)
    _resolve_validation(resolved, shape, mode)
    _resolve_rest(resolved, mode)
    _unused_notices(resolved, mode)
    return resolved


def _blend(shape: DataShape) -> str:
    """Wide data (fewer rows than twice the features: a bag of words, motifs, genes) is where
    a max-margin linear model fits best and the network overfits: blend one in (its weight is
    still tuned on the held-out rows, and may be 0), unless its weight matrix would be large."""
    wide = shape.n_rows < WIDE_RATIO * shape.n_features
    return "linear" if wide and shape.n_features * shape.n_labels <= MAX_LINEAR_WEIGHTS \
        else "none"


def _loss(options: TrainOptions) -> str:
    """asymmetric; bce with pos_weight or a fixed threshold (ASL shifts probabilities up,
    which a tuned threshold absorbs and a fixed one does not); focal with focal_gamma."""
    params = dict(options.loss_options)
    fixed = options.decision == "fixed" or (options.decision == AUTO
                                            and options.threshold != AUTO)
    if options.pos_weight is not None or fixed:
        return "bce"
    return "focal" if "focal_gamma" in params else "asymmetric"


def _resolve_validation(resolved: Resolved, shape: DataShape, mode: str) -> None:
    options = resolved.options
    ensemble = options.ensemble if options.ensemble != AUTO else 1
    explicit = [n for n in ("validation_split", "validation_strategy")
                if getattr(options, n) != AUTO]
    if ensemble > 1 and explicit:
        what = ", ".join(f"{flag_of(n)} {getattr(options, n)}" for n in explicit)
        if "ensemble" not in resolved.chosen:
            raise ConfigError(f"--ensemble {ensemble} validates each network on its own "
                              f"fold; {what} applies to one network (--ensemble 1)")
        resolved.notices.append(f"{what} not used: the {ensemble} cross-fitted networks "
                                "validate on their folds (--ensemble 1 uses it)")
    split = VALIDATION_SPLIT if options.validation_split == AUTO else options.validation_split
    if options.validation_split == AUTO and ensemble == 1 \
            and int(shape.n_rows * split) < 1 and mode != STREAM:
        split = 0.0
        resolved.notices.append(f"{shape.n_rows} rows: too few to hold any out, so no early "
                                "stopping and a fixed 0.5 threshold")
    strategy = options.validation_strategy
    if strategy == AUTO:
        strategy = "random" if mode == STREAM else "stratified"
    resolved.options = replace(resolved.options, validation_split=split,
                               validation_strategy=strategy)


def _resolve_rest(resolved: Resolved, mode: str) -> None:
    options = resolved.options
    decision = options.decision
    if decision == AUTO and options.threshold != AUTO:
        decision = "fixed"
    elif decision == AUTO and options.top_k != AUTO:
        decision = "top_k"
    threshold = 0.5 if options.threshold == AUTO and decision == "fixed" else options.threshold
    resolved.options = replace(options, decision=decision, threshold=threshold)


def _unused_notices(resolved: Resolved, mode: str) -> None:
    options = resolved.options
    given = options.explicit()
    if options.model in LINEAR_MODELS:
        unused = [flag_of(n) for n in given if OPTIONS[n].network and n != "seed"]
        if unused:
            resolved.notices.append(f"--model {options.model} does not use "
                                    f"{', '.join(unused)} (network options)")
    if "n_jobs" in given and (options.ensemble == 1 or mode == DISTRIBUTED):
        why = ("the networks train one after another, each over every process"
               if mode == DISTRIBUTED else "one network trains in this process")
        resolved.notices.append(f"--jobs {options.n_jobs} not used: {why}")
    if options.hidden == () and "dropout" in given:
        resolved.notices.append("--dropout not used: the network has no hidden layer")


def describe(shape: DataShape, chosen: dict[str, Any]) -> str:
    """One line for the user: what was chosen from what."""
    kind = "sparse" if shape.sparse else "dense"
    settings = ", ".join(f"{k}={_show(v)}" for k, v in chosen.items())
    return (f"settings from the data ({shape.n_rows:,} rows, {shape.n_features:,} {kind} "
            f"features, {shape.n_labels:,} labels): {settings}")


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


__all__ = ["DEFAULTS", "DataShape", "Resolved", "data_shape", "describe", "resolve",
           "shaped_defaults"]


# float32 weights, their gradients and Adam's two moments
TRAINING_BYTES_PER_WEIGHT = 16


def network_bytes(options: TrainOptions, shape: DataShape) -> int:
    """Memory the network(s) of resolved `options` take while training on data of `shape`."""
    widths = [shape.n_features, *options.hidden, shape.n_labels]  # type: ignore[misc]
    weights = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    members = options.ensemble if isinstance(options.ensemble, int) else 1
    return TRAINING_BYTES_PER_WEIGHT * weights * max(members, 1)


def check_network_fits(options: TrainOptions, shape: DataShape) -> None:
    """Refuse, before torch allocates, networks larger than the memory budget (one line, not
    an allocation error deep in torch)."""
    from multitag.data.limits import memory_budget, size_text

    if options.model in LINEAR_MODELS:
        return
    needed, budget = network_bytes(options, shape), memory_budget()
    if needed > budget:
        hidden = ",".join(str(w) for w in options.hidden) or "none"  # type: ignore[union-attr]
        raise ConfigError(
            f"the network ({shape.n_features:,} inputs, --hidden {hidden}, "
            f"{shape.n_labels:,} labels, {options.ensemble} network(s)) needs "
            f"{size_text(needed)} to train, over the memory budget of {size_text(budget)} "
            "(MULTITAG_MEMORY_LIMIT); use narrower --hidden, fewer --ensemble networks, or "
            "fewer features (--drop-columns)")
