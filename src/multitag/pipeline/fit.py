"""The pipeline of DESIGN.md as library calls: fit preprocessor, train, tune the decision rule,
evaluate, bundle. The CLI's train/evaluate/predict commands are thin layers over these."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from multitag.bundle.directory import ModelBundle
from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError

LINEAR_MODELS = ("br-svm", "br-lr")
SAVABLE_MODELS = ("mlp", "auto", *LINEAR_MODELS)
AUTO = "auto"  # a setting chosen from the shape of the training data (multitag.pipeline.defaults)


@dataclass(frozen=True)
class TrainOptions:
    """Network, training and decision-rule settings for `train_model` (stored in model.json)."""

    model: str = "mlp"
    hidden: tuple[int, ...] | str = AUTO
    epochs: int | str = AUTO
    batch_size: int | str = AUTO
    learning_rate: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    lr_schedule: str = "constant"
    dropout: float | str = AUTO
    linear_skip: bool = False
    validation_split: float = 0.1
    early_stopping_patience: int | str | None = AUTO
    early_stopping_monitor: str = AUTO
    decision: str = AUTO
    objective: str = "micro_f1"
    loss: str = AUTO
    pos_weight: str | tuple[float, ...] | dict[str, float] | None = None
    loss_options: tuple[tuple[str, float], ...] = ()
    ensemble: int | str = AUTO
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    mixed_precision: bool = False
    distributed: bool = False

    def __post_init__(self) -> None:
        if self.model not in SAVABLE_MODELS:
            raise ConfigError(
                f"`--model` must be one of {', '.join(SAVABLE_MODELS)} for a model directory; "
                f"got {self.model!r} (other baselines are compared with `multitag compare`)")
        self._check_early()

    def resolve(self, shape: Any) -> tuple[TrainOptions, dict[str, Any]]:
        """These options with every `auto` value chosen for data of `shape`; and the choices."""
        from multitag.pipeline.defaults import shaped_defaults

        chosen = {k: v for k, v in shaped_defaults(shape).items() if getattr(self, k) == AUTO}
        return (replace(self, **chosen) if chosen else self), chosen

    def _check_early(self) -> None:
        """Every value checked before any data is read or any training starts."""
        from multitag.pipeline.defaults import DataShape

        probe, _ = self.resolve(DataShape(n_rows=1000, n_features=10, n_labels=2, density=1.0))
        probe._check_values()

    def _check_values(self) -> None:
        from multitag.decision.rules import check_objective, make_rule
        from multitag.models.losses import loss_spec_from
        from multitag.training.config import TrainConfig

        check_objective(self.objective)
        weights = None if isinstance(self.pos_weight, dict) else self.pos_weight
        loss_spec_from(self.loss, weights, **dict(self.loss_options))
        if self.decision != AUTO:
            make_rule(self.decision, **({"objective": self.objective}
                                        if self.decision in ("global", "per_label") else {}))
        TrainConfig(epochs=self.epochs, batch_size=self.batch_size,
                    learning_rate=self.learning_rate, optimizer=self.optimizer,
                    weight_decay=self.weight_decay, lr_schedule=self.lr_schedule,
                    early_stopping_patience=self.early_stopping_patience, seed=self.seed,
                    threads=self.threads, device=self.device)
        if self.device != "auto":  # a GPU that is not there fails before any data is read
            from multitag.training.trainer import resolve_device

            resolve_device(self.device)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"`--dropout` must be a number in [0, 1); got {self.dropout}")
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) \
                or self.ensemble < 1:
            raise ConfigError(f"`--ensemble` must be a positive integer; got {self.ensemble!r}")
        if self.early_stopping_monitor not in ("loss", "objective"):
            raise ConfigError("`--early-stopping` must be 'loss' or 'objective'; got "
                              f"{self.early_stopping_monitor!r}")
        if not 0.0 <= self.validation_split < 1.0:
            raise ConfigError("`--validation-split` must be a number in [0, 1); got "
                              f"{self.validation_split}")

    def estimator_params(self) -> dict[str, Any]:
        skip = {"model", "seed"}
        params = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        params["loss_options"] = dict(self.loss_options) or None
        return {**params, "random_state": self.seed, "standardize": False}

    def with_label_names(self, label_names: Sequence[str]) -> TrainOptions:
        """`pos_weight` given per label name (a dict) as one weight per label, in order
        (labels not named get 1); a name that is not a label is an error."""
        if not isinstance(self.pos_weight, dict):
            return self
        unknown = sorted(set(self.pos_weight) - set(label_names))
        if unknown:
            raise ConfigError(f"`--pos-weight` names {len(unknown)} label(s) the data does not "
                              f"have: {', '.join(map(str, unknown[:5]))}")
        return replace(self, pos_weight=tuple(float(self.pos_weight.get(n, 1.0))
                                              for n in label_names))


@dataclass
class TrainOutcome:
    """The saved-to-be bundle plus what training measured."""

    bundle: ModelBundle
    fit_seconds: float
    threads: int
    stopped_early: bool
    best_epoch: int
    notices: list[str] = field(default_factory=list)


def train_model(train: Dataset, options: TrainOptions,
                callbacks: Sequence[Any] = ()) -> TrainOutcome:
    """Fit the preprocessor on `train`, train the model(s), tune the decision rule."""
    from multitag.features.preprocessor import Preprocessor
    from multitag.pipeline.defaults import data_shape, describe

    _check_trainable(train, options)
    started = time.perf_counter()
    preprocessor = Preprocessor().fit(train)
    X, Y = preprocessor.transform(train), train.Y_dense()
    shape = data_shape(X, Y)
    options, chosen = options.resolve(shape)
    options = options.with_label_names(train.label_names)
    if options.model in LINEAR_MODELS:  # only the folds matter to a linear model
        chosen = {k: v for k, v in chosen.items() if k == "ensemble"}
    fitted = (_fit_linear(X, Y, options) if options.model in LINEAR_MODELS
              else _fit_network(X, Y, options, train.label_names, callbacks))
    bundle = ModelBundle(
        preprocessor=preprocessor, module=fitted.module, decision_rule=fitted.rule,
        label_names=list(train.label_names), feature_names=list(train.feature_names),
        architecture=fitted.architecture(X.shape[1], train.n_labels, options),
        training={**asdict(options), "n_train_rows": train.n_samples, "kept": fitted.name,
                  "pos_weight_used": fitted.result.pos_weight},
        history=fitted.result.history,
    )
    notices = [*train.notices, *preprocessor.notices_, *_constant_label_notices(train)]
    if chosen:
        notices.append(describe(shape, chosen))
    notices += fitted.notices
    return TrainOutcome(bundle=bundle, fit_seconds=time.perf_counter() - started,
                        threads=fitted.result.threads,
                        stopped_early=fitted.result.stopped_early,
                        best_epoch=fitted.result.best_epoch, notices=notices)


@dataclass
class _Fitted:
    """The model that will be saved: its name, module, decision rule and training result."""

    name: str
    module: Any
    rule: Any
    result: Any
    notices: list[str] = field(default_factory=list)

    def architecture(self, n_features: int, n_labels: int,
                     options: TrainOptions) -> dict[str, Any]:
        if self.name in LINEAR_MODELS:
            return {"type": "mlp", "model": self.name, "n_features": n_features,
                    "n_labels": n_labels, "hidden": [], "dropout": 0.0, "linear_skip": False,
                    "members": 1}
        return {"type": "mlp", "model": "mlp", "n_features": n_features, "n_labels": n_labels,
                "hidden": list(options.hidden), "dropout": options.dropout,
                "linear_skip": options.linear_skip, "members": options.ensemble}


def _fit_network(X: Any, Y: np.ndarray, options: TrainOptions, label_names: Sequence[str],
                 callbacks: Sequence[Any]) -> _Fitted:
    """The network; with `--model auto` also the linear models on the same held-out rows,
    keeping whichever scores best."""
    from multitag.estimator import MultiLabelMLP
    from multitag.pipeline.selection import choose, linear_candidate, network_candidate

    estimator = MultiLabelMLP(**options.estimator_params(), label_names=label_names,
                              callbacks=callbacks)
    estimator.fit(X, Y)
    result = estimator.train_result_
    notices = []
    if result.pos_weight is not None:
        weights = np.asarray(result.pos_weight)
        notices.append(f"pos_weight per label: min {weights.min():.3g}, median "
                       f"{np.median(weights):.3g}, max {weights.max():.3g} (stored in model.json)")
    if estimator.decision_choice_ and options.decision == AUTO:
        notices.append(f"decision rule: {estimator.decision_rule_.name} (threshold "
                       f"cross-validation {options.objective}: {estimator.decision_choice_})")
    best = network_candidate(estimator)
    if options.model == "auto":
        candidates = [best] + [
            linear_candidate(name, X, Y, estimator.splits_, options.decision,
                             options.objective, options.seed) for name in LINEAR_MODELS]
        best, account = choose(candidates, options.objective)
        notices.append(account)
    if best.name != "mlp":
        result = _linear_result()
    return _Fitted(best.name, best.final_module(), best.rule, result, notices)


def _fit_linear(X: Any, Y: np.ndarray, options: TrainOptions) -> _Fitted:
    """A binary-relevance linear model, its rule tuned on the held-out rows of the same
    splits a network would use (cross-fitting folds on small data)."""
    from multitag.models.ensemble import member_splits
    from multitag.pipeline.selection import linear_candidate

    started = time.perf_counter()
    splits = member_splits(Y, options.ensemble, True, options.validation_split, "stratified",
                           options.seed)
    candidate = linear_candidate(options.model, X, Y, splits, options.decision,
                                 options.objective, options.seed)
    module = candidate.final_module()
    result = _linear_result(time.perf_counter() - started)
    return _Fitted(options.model, module, candidate.rule, result)


def _linear_result(seconds: float = 0.0) -> Any:
    from multitag.training.trainer import TrainResult

    return TrainResult(fit_seconds=seconds)


@dataclass
class Evaluation:
    """Metrics of a bundle on labelled data, with the timing of prediction."""

    report: Any
    predict_seconds: float
    probabilities: np.ndarray

    def metrics_json(self, fit_seconds: float | None = None) -> dict[str, Any]:
        payload = {**self.report.metrics, "predict_seconds": self.predict_seconds}
        if fit_seconds is not None:
            payload["fit_seconds"] = fit_seconds
        return payload


def evaluate_model(bundle: ModelBundle, data: Dataset,
                   predict_proba: Any = None) -> Evaluation:
    """Predict `data` with the bundle (or `predict_proba(data)`, e.g. gathered from several
    processes) and compute every metric against its labels."""
    from multitag.estimator import rule_thresholds
    from multitag.metrics.evaluation import evaluate

    _check_same_labels(bundle, data)
    started = time.perf_counter()
    proba = (predict_proba or bundle.predict_proba)(data)
    predicted = bundle.decision_rule.predict(proba)
    seconds = time.perf_counter() - started
    report = evaluate(data.Y_dense(), proba, predicted, label_names=bundle.label_names)
    thresholds = rule_thresholds(bundle.decision_rule, len(bundle.label_names))
    if thresholds is not None:
        report = report.with_thresholds(thresholds)
    return Evaluation(report=report, predict_seconds=seconds, probabilities=proba)


def _check_trainable(train: Dataset, options: TrainOptions) -> None:
    n_valid = int(train.n_samples * options.validation_split)
    if train.n_labels == 0:
        raise DataFormatError(f"{train.name or 'training data'}: no label columns were found")
    if options.validation_split > 0 and (n_valid < 1 or train.n_samples - n_valid < 1):
        raise DataFormatError(
            f"{train.name or 'training data'} has {train.n_samples} rows: too few for a "
            f"validation split of {options.validation_split:g} (it needs at least "
            f"{int(np.ceil(1 / options.validation_split))} rows)")


def _constant_label_notices(train: Dataset) -> list[str]:
    return constant_label_notices(train.label_names, np.asarray(train.Y.sum(axis=0)).ravel(),
                                  train.n_samples)


def constant_label_notices(label_names: Sequence[str], counts: Any, n_rows: int) -> list[str]:
    """Notices naming the labels that never occur in, or occur in every one of, `n_rows`
    training rows (their positive `counts`): they are predicted constant."""
    never = [n for n, c in zip(label_names, counts) if c == 0]
    always = [n for n, c in zip(label_names, counts) if c == n_rows]
    notices = []
    if never:
        notices.append(f"{len(never)} label(s) never occur in training and will be predicted "
                       f"absent: {', '.join(never[:10])}")
    if always:
        notices.append(f"{len(always)} label(s) occur in every training row and will be "
                       f"predicted present: {', '.join(always[:10])}")
    return notices


def _check_same_labels(bundle: ModelBundle, data: Dataset) -> None:
    if list(data.label_names) != list(bundle.label_names):
        missing = [n for n in bundle.label_names if n not in data.label_names]
        raise DataFormatError(
            f"{data.name or 'data'}: its labels differ from the model's "
            f"({data.n_labels} vs {len(bundle.label_names)}; missing: {missing[:5]})")
