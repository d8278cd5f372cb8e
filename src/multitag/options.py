"""Every training option, declared once.

`TrainOptions` is the table: each field is one option declared with `option(...)`: its default
(`AUTO`: chosen from the training data's shape or from the mode, see
`multitag.pipeline.defaults`), what it accepts, its help text, its CLI flag and estimator
parameter when they differ from the field's name. The CLI's flags (`multitag.cli.options`), the
estimator's parameters (`multitag.estimator`), the `training` section of model.json and the
validation all derive from it: a value is checked once, when `TrainOptions` is built.

This module imports nothing heavier than the standard library, so the CLI can build its flags
from it at start-up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from multitag.exceptions import ConfigError

AUTO = "auto"
MODELS = ("mlp", "auto", "br-svm", "br-lr")
LINEAR_MODELS = ("br-svm", "br-lr")
LOSSES = ("bce", "focal", "asymmetric")
# Parameters of each loss (`--loss-param NAME=VALUE`) and their defaults.
LOSS_PARAMS = {"focal": {"focal_gamma": 2.0},
               "asymmetric": {"gamma_neg": 4.0, "gamma_pos": 0.0, "clip": 0.05}, "bce": {}}
DECISIONS = ("fixed", "global", "per_label", "top_k", "at_least_one")
OBJECTIVES = ("micro_f1", "macro_f1", "samples_f1", "hamming")
OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine", "plateau")
MONITORS = ("objective", "loss")
VALIDATION_STRATEGIES = ("stratified", "random", "tail")
SCALES = ("standard", "maxabs", "tfidf", "none")
BLENDS = ("linear", "none")
DEVICE_PATTERN = r"cpu|cuda(:\d+)?|mps"


@dataclass(frozen=True)
class Option:
    """How one option is given and checked. `kind`: int, float, bool, choice, ints (a list of
    positive integers), weights (pos_weight), params (NAME=VALUE pairs), device, text."""

    kind: str
    help: str
    choices: tuple[str, ...] = ()
    auto: str = ""  # what AUTO means, when AUTO is accepted
    none: str = ""  # what None means (the word 'none' on the CLI), when it is accepted
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the bound itself is excluded
    high_open: bool = False
    flag: str = ""  # CLI flag when not --field-name
    param: str = ""  # estimator parameter when not the field name
    network: bool = True  # only the network uses it (a linear model ignores it)

    def accepts_auto(self) -> bool:
        return bool(self.auto)


def option(default: Any, help: str, kind: str, **spec: Any) -> Any:
    """A `TrainOptions` field: its default and its `Option` (kept in the field's metadata)."""
    return field(default=default, metadata={"option": Option(kind, help, **spec)})


@dataclass(frozen=True)
class TrainOptions:
    """Network, training, decision-rule and preprocessing settings (stored in model.json)."""

    model: str = option("mlp", "mlp; auto (the network, br-svm and br-lr scored on the same "
                        "held-out rows: keeps the best); br-svm; br-lr.", "choice",
                        choices=MODELS, network=False)
    hidden: tuple[int, ...] | str = option(
        AUTO, "Hidden layer widths, comma-separated ('none': no hidden layer).", "ints",
        auto="256, or 512 from 20,000 rows")
    dropout: float | str = option(AUTO, "Dropout after each hidden layer.", "float",
                                  auto="0.2, or 0.5 for sparse input", low=0.0, high=1.0,
                                  high_open=True)
    linear_skip: bool = option(False, "A linear path from the inputs to the outputs beside the "
                               "hidden layers.", "bool")
    epochs: int | str = option(AUTO, "Most epochs (early stopping ends sooner).", "int",
                               auto="100", low=1)
    batch_size: int | str = option(AUTO, "Rows per batch.", "int",
                                   auto="64 below 5,000 rows, 128, 256 from 20,000", low=1)
    learning_rate: float = option(1e-3, "Learning rate.", "float", low=0.0, low_open=True)
    optimizer: str = option("adamw", "adam (L2 weight decay) or adamw (decoupled).", "choice",
                            choices=OPTIMIZERS)
    weight_decay: float = option(1e-4, "Weight decay.", "float", low=0.0)
    lr_schedule: str = option("constant", "Learning rate schedule.", "choice",
                              choices=LR_SCHEDULES)
    loss: str = option(AUTO, "Loss on the logits.", "choice", choices=LOSSES,
                       auto="asymmetric; bce with --pos-weight or a fixed threshold, focal "
                            "with focal_gamma")
    pos_weight: str | tuple[float, ...] | Mapping[str, float] | None = option(
        None, "BCE weight of positives: 'auto' (negatives/positives per label, clipped to "
        "[1, 10]), one number per label comma-separated, or a JSON file {label: weight}.",
        "weights", none="1 for every label")
    loss_options: tuple[tuple[str, float], ...] = option(
        (), "NAME=VALUE, repeatable: focal_gamma (focal); gamma_neg, gamma_pos, clip "
        "(asymmetric).", "params", flag="--loss-param")
    blend: str = option(
        AUTO, "Blend the networks' probabilities with a max-margin linear model (br-svm) "
        "fitted on the same folds, its weight tuned on the held-out rows (0 when it does not "
        "help).", "choice", choices=BLENDS,
        auto="linear on wide data (fewer rows than twice the features, at most 10M "
             "feature x label weights), else none",
        network=False)
    ensemble: int | str = option(AUTO, "Networks averaged, each validated on its own fold.",
                                 "int", auto="5 below 5,000 rows when an epoch is at most 1 G "
                                 "multiply-adds, else 1", low=1,
                                 network=False)
    validation_split: float | str = option(
        AUTO, "Share of the training rows held out to stop training and tune the decision "
        "rule (one network).", "float", auto="0.1; an ensemble validates on its folds",
        low=0.0, high=1.0, high_open=True, network=False)
    validation_strategy: str = option(
        AUTO, "How the validation rows are drawn.", "choice", choices=VALIDATION_STRATEGIES,
        auto="stratified over the labels; a hash of the row position when streaming",
        network=False)
    early_stopping_monitor: str = option(AUTO, "What early stopping watches.", "choice",
                                         choices=MONITORS, auto="objective",
                                         flag="--early-stopping")
    early_stopping_patience: int | str | None = option(
        AUTO, "Epochs without improvement before stopping.", "int",
        auto="20 for cross-fitted networks, else 10", none="train every epoch", low=1,
        flag="--patience")
    decision: str = option(AUTO, "Decision rule, tuned on the held-out rows.", "choice",
                           choices=DECISIONS, network=False,
                           auto="global or per_label, whichever cross-validates better; "
                                "fixed with --threshold, top_k with --top-k")
    threshold: float | str = option(AUTO, "Threshold of the fixed rule.", "float", low=0.0,
                                    high=1.0, auto="0.5", network=False)
    top_k: int | str = option(AUTO, "Labels per row of the top_k rule.", "int", low=1,
                              auto="tuned on the held-out rows", network=False)
    objective: str = option("micro_f1", "What tuning maximises.", "choice", choices=OBJECTIVES,
                            network=False)
    scale: str = option(AUTO, "Feature scaling.", "choice", choices=SCALES, network=False,
                        auto="standard for dense input, maxabs for sparse")
    seed: int = option(0, "Seed of splits, weights and shuffling.", "int", param="random_state",
                       network=False)
    threads: int | str = option(AUTO, "Torch threads per network.", "int", low=1,
                                auto="chosen from the network's size and the load")
    n_jobs: int | str = option(AUTO, "Worker processes training the networks of an ensemble.",
                               "int", low=1, auto="one per core", flag="--jobs")
    device: str = option(AUTO, "Training device.", "device",
                         auto="the first CUDA GPU when torch sees one, else the CPU")
    mixed_precision: bool = option(False, "Run the network in bfloat16 autocast (the loss "
                                   "stays float32).", "bool")

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, check_value(f.name, getattr(self, f.name)))
        check_combination(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples as lists, a label->weight mapping as a dict."""
        values = asdict(self)
        values["loss_options"] = dict(self.loss_options)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainOptions:
        """Options from `to_dict` output; unknown keys are an error listing the valid ones."""
        unknown = sorted(set(values) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; valid: "
                              f"{', '.join(OPTIONS)}")
        return cls(**values)

    def explicit(self) -> dict[str, Any]:
        """The options whose value differs from the table's default."""
        return {name: getattr(self, name) for name, f in _FIELDS.items()
                if getattr(self, name) != f.default}

    def with_label_names(self, label_names: Sequence[str]) -> TrainOptions:
        """`pos_weight` given per label name as one weight per label, in order (labels not
        named get 1); a name that is not a label is an error."""
        weights = self.pos_weight
        if not isinstance(weights, Mapping):
            if isinstance(weights, tuple) and len(weights) != len(label_names):
                raise ConfigError(f"`--pos-weight` has {len(weights)} values for "
                                  f"{len(label_names)} labels")
            return self
        unknown = sorted(set(weights) - set(label_names))
        if unknown:
            raise ConfigError(f"`--pos-weight` names {len(unknown)} label(s) the data does not "
                              f"have: {', '.join(map(str, unknown[:5]))}")
        return replace(self, pos_weight=tuple(float(weights.get(n, 1.0)) for n in label_names))


_FIELDS = {f.name: f for f in fields(TrainOptions)}
OPTIONS: dict[str, Option] = {name: f.metadata["option"] for name, f in _FIELDS.items()}
DEFAULTS: dict[str, Any] = {name: f.default for name, f in _FIELDS.items()}


def flag_of(name: str) -> str:
    """The CLI flag of option `name`."""
    return OPTIONS[name].flag or "--" + name.replace("_", "-")


def param_of(name: str) -> str:
    """The estimator parameter of option `name`."""
    return OPTIONS[name].param or name


def describe_accepted(name: str) -> str:
    """What option `name` accepts, in words (for error messages and help)."""
    spec = OPTIONS[name]
    words = {"int": "an integer", "float": "a number", "bool": "true or false",
             "ints": "positive integers separated by commas", "params": "NAME=VALUE pairs",
             "weights": "'auto', positive numbers separated by commas, or label: weight",
             "device": "cpu, cuda, cuda:N or mps", "choice": "one of " + ", ".join(spec.choices)}
    text = words[spec.kind]
    if spec.low is not None or spec.high is not None:
        text += " " + _bounds(spec)
    extras = [w for w, ok in ((repr(AUTO), spec.auto), ("none", spec.none)) if ok]
    return text + "".join(f" or {w}" for w in extras)


def _bounds(spec: Option) -> str:
    if spec.kind == "int" and spec.low is not None and spec.high is None:
        return f">= {int(spec.low)}" if not spec.low_open else f"> {int(spec.low)}"
    left = "(" if spec.low_open else "["
    right = ")" if spec.high_open else "]"
    if spec.high is None:
        return f"{'>' if spec.low_open else '>='} {spec.low:g}"
    return f"in {left}{spec.low:g}, {spec.high:g}{right}"


def check_value(name: str, value: Any) -> Any:
    """`value` for option `name`, normalised (lists become tuples), or a `ConfigError` naming
    the option, what it accepts and what it got."""
    spec = OPTIONS[name]
    if isinstance(value, str) and value == AUTO and spec.auto:
        return AUTO
    if value is None and (spec.none or spec.kind == "weights"):
        return None
    checked = _KIND_CHECKS[spec.kind](spec, value)
    if checked is _BAD:
        raise ConfigError(f"`{flag_of(name)}` ({name}) must be {describe_accepted(name)}; "
                          f"got {value!r}")
    return checked


_BAD = object()


def _number(spec: Option, value: Any, integer: bool) -> Any:
    if isinstance(value, bool | str):
        return _BAD
    if not isinstance(value, int | float):
        if not hasattr(value, "__index__") and not hasattr(value, "__float__"):
            return _BAD
        value = int(value) if integer and hasattr(value, "__index__") else float(value)
    if integer and (not float(value).is_integer()):
        return _BAD
    value = int(value) if integer else float(value)
    if not math.isfinite(value) or not _within(spec, value):
        return _BAD
    return value


def _within(spec: Option, value: float) -> bool:
    if spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low)):
        return False
    return spec.high is None or not (value > spec.high or (spec.high_open and value == spec.high))


def _ints(spec: Option, value: Any) -> Any:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return _BAD
    items = tuple(value)
    if not all(not isinstance(v, bool) and hasattr(v, "__index__") and int(v) > 0
               for v in items):
        return _BAD
    return tuple(int(v) for v in items)


def _weights(spec: Option, value: Any) -> Any:
    if isinstance(value, str):
        return AUTO if value == AUTO else _BAD
    if isinstance(value, Mapping):
        pairs = {str(k): _positive(v) for k, v in value.items()}
        return _BAD if _BAD in pairs.values() or not pairs else dict(pairs)
    if isinstance(value, str) or not isinstance(value, Sequence) or not len(value):
        return _BAD
    weights = tuple(_positive(v) for v in value)
    return _BAD if _BAD in weights else weights


def _positive(value: Any) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok and value > 0 else _BAD


def _params(spec: Option, value: Any) -> Any:
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = tuple((str(k), v) for k, v in items)
    except (TypeError, ValueError):
        return _BAD
    known = {k for params in LOSS_PARAMS.values() for k in params}
    if any(k not in known or _number(Option("float", ""), v, False) is _BAD for k, v in pairs):
        return _BAD
    return tuple((k, float(v)) for k, v in pairs)


_KIND_CHECKS = {
    "int": lambda spec, v: _number(spec, v, True),
    "float": lambda spec, v: _number(spec, v, False),
    "bool": lambda spec, v: v if isinstance(v, bool) else (bool(v) if v in (0, 1) else _BAD),
    "choice": lambda spec, v: v if isinstance(v, str) and v in spec.choices else _BAD,
    "ints": _ints,
    "weights": _weights,
    "params": _params,
    "device": lambda spec, v: v if isinstance(v, str) and re.fullmatch(DEVICE_PATTERN, v)
    else _BAD,
}


def check_combination(options: TrainOptions) -> None:
    """Options that are valid alone but not together."""
    loss = options.loss
    params = dict(options.loss_options)
    if options.pos_weight is not None and loss not in (AUTO, "bce"):
        raise ConfigError(f"`--pos-weight` applies to the bce loss; got --loss {loss}")
    if loss != AUTO:
        wrong = sorted(set(params) - set(LOSS_PARAMS[loss]))
        if wrong:
            raise ConfigError(f"`--loss-param` {', '.join(wrong)} does not apply to --loss "
                              f"{loss} (it takes: {', '.join(LOSS_PARAMS[loss]) or 'none'})")
    families = {n for n, names in LOSS_PARAMS.items() if set(params) & set(names)}
    if len(families) > 1:
        raise ConfigError("`--loss-param` mixes the parameters of different losses: "
                          f"{', '.join(sorted(params))}")
    if families and options.pos_weight is not None:
        raise ConfigError(f"`--pos-weight` applies to the bce loss and `--loss-param "
                          f"{', '.join(sorted(params))}` to {families.pop()}; give one of them")
    for name, value in params.items():
        if value < 0 or (name == "clip" and value >= 1.0):
            bounds = "in [0, 1)" if name == "clip" else ">= 0"
            raise ConfigError(f"`--loss-param {name}` must be {bounds}; got {value:g}")
    _check_decision_extras(options)


def _check_decision_extras(options: TrainOptions) -> None:
    if options.threshold != AUTO and options.decision not in (AUTO, "fixed"):
        raise ConfigError(f"`--threshold` is the threshold of --decision fixed; got --decision "
                          f"{options.decision}")
    if options.top_k != AUTO and options.decision not in (AUTO, "top_k"):
        raise ConfigError(f"`--top-k` is the k of --decision top_k; got --decision "
                          f"{options.decision}")
    if options.threshold != AUTO and options.top_k != AUTO:
        raise ConfigError("`--threshold` and `--top-k` are two different decision rules; "
                          "give one of them")
