"""Models side by side on one split: `compare(train, test, ["mlp", "br-svm", ...])`.

The network rows are what `multitag train` saves: `mlp` is `train` with its defaults (data-shaped
settings, cross-fitting, the tuned decision rule), `auto` is `train --model auto`, and
`mlp-classic` the classic recipe (one network, BCE, Adam, threshold 0.5); each is trained by the
one pipeline (`multitag.pipeline.fit.train`) and scored like `multitag evaluate`, its whole fit
time included. Baselines (`multitag.models.baselines`) keep their own decision rules; every row
says which rule it used. Library code: nothing is printed, progress goes to an optional callback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError

# Rows trained by the pipeline, and their options beyond the defaults.
NETWORK_ROWS: dict[str, dict[str, Any]] = {
    "mlp": {},
    "auto": {"model": "auto"},
    "mlp-classic": {"hidden": (256,), "ensemble": 1, "loss": "bce", "optimizer": "adam",
                    "weight_decay": 0.0, "dropout": 0.0, "batch_size": 64, "epochs": 100,
                    "early_stopping_monitor": "loss", "early_stopping_patience": 10,
                    "validation_split": 0.1, "decision": "fixed", "threshold": 0.5},
}
DEFAULT_MODELS = ("mlp", "br-lr", "br-svm", "cc", "rf", "knn", "mlknn")
TIME_COLUMNS = ("fit_seconds", "predict_seconds")


@dataclass(frozen=True)
class Step:
    """One progress event: `stage` is "fit", "predict", "done" or "skip"."""

    model: str
    stage: str
    index: int
    total: int
    detail: str = ""


Progress = Callable[[Step], None]


@dataclass(frozen=True)
class CompareRow:
    """One model's test metrics (DESIGN names, None where undefined), its timings and the
    decision rule its predictions used."""

    model: str
    metrics: dict[str, float | None]
    fit_seconds: float
    predict_seconds: float
    decision_rule: str = ""

    def value(self, column: str) -> float | None:
        if column == "fit_seconds":
            return self.fit_seconds
        if column == "predict_seconds":
            return self.predict_seconds
        return self.metrics.get(column)


@dataclass(frozen=True)
class CompareResult:
    """Rows in the order the models were given, the metrics conventions, and notices (labels
    constant in training, which every model predicts as that constant)."""

    rows: list[CompareRow]
    dataset: str = ""
    n_train: int = 0
    n_test: int = 0
    n_labels: int = 0
    conventions: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return [row.model for row in self.rows]

    def row(self, model: str) -> CompareRow:
        for row in self.rows:
            if row.model == model:
                return row
        raise ConfigError(f"no row for model {model!r}; rows are: {', '.join(self.models)}")

    def columns(self) -> list[str]:
        """Every metric column (DESIGN order) followed by the two timing columns."""
        names = list(self.rows[0].metrics) if self.rows else []
        return [*names, *TIME_COLUMNS]

    def best_per_column(self, columns: Sequence[str] | None = None) -> dict[str, list[str]]:
        """For each column, the model(s) with the best value (lower is better for losses,
        errors and seconds); columns where no model has a value map to []."""
        best: dict[str, list[str]] = {}
        for column in columns or self.columns():
            values = [(row.model, row.value(column)) for row in self.rows]
            values = [(m, v) for m, v in values if v is not None]
            if not values:
                best[column] = []
                continue
            pick = min if lower_is_better(column) else max
            target = pick(v for _, v in values)
            best[column] = [m for m, v in values if np.isclose(v, target, rtol=0, atol=1e-12)]
        return best

    def metrics_json(self) -> dict[str, dict[str, Any]]:
        """{model: {metric: value, ..., fit_seconds, predict_seconds, decision_rule}}."""
        return {row.model: {**row.metrics, "fit_seconds": row.fit_seconds,
                            "predict_seconds": row.predict_seconds,
                            "decision_rule": row.decision_rule} for row in self.rows}


def lower_is_better(column: str) -> bool:
    """Whether a smaller value is better in column `column` (losses, errors, seconds)."""
    from multitag.metrics.names import LOWER_IS_BETTER

    return column in LOWER_IS_BETTER or column in TIME_COLUMNS


def model_names() -> list[str]:
    """Every name `compare` accepts: the pipeline's rows, then the baselines."""
    from multitag.models.baselines import baseline_names

    return [*NETWORK_ROWS, *baseline_names()]


def parse_models(spec: str | Sequence[str]) -> list[str]:
    """Model names from "mlp,br-lr" or a list; unknown names raise ConfigError listing all."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(item).strip().lower() for item in items if str(item).strip()]
    unknown = [n for n in names if n not in model_names()]
    if unknown:
        raise ConfigError(f"unknown model {unknown[0]!r}; valid names are: "
                          f"{', '.join(model_names())}")
    if not names:
        raise ConfigError("no model names given; give at least one, e.g. mlp,br-svm")
    return list(dict.fromkeys(names))


def compare(
    train: Dataset, test: Dataset, models: Sequence[str] = DEFAULT_MODELS, *, seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None, progress: Progress | None = None,
    threads: int | None = 1,
) -> CompareResult:
    """Fit every model in `models` on `train`, score it on `test`; `params` overrides a model's
    settings by name (training options for the network rows, e.g. {"mlp": {"epochs": 5}}).
    `threads` caps the BLAS/OpenMP threads of scikit-learn's models (None: library default);
    1 is fastest for small problems and on a busy machine (two BLAS threads made logistic
    regression ~15x slower there). The network rows choose their threads as `train` does."""
    names = parse_models(models)
    check_pair(train, test)
    baseline_features = None
    rows, conventions = [], []
    for index, name in enumerate(names):
        notify = notifier(progress, name, index, len(names))
        extra = dict((params or {}).get(name, {}))
        if name in NETWORK_ROWS:
            row, report = network_row(name, train, test, seed, extra, notify)
        else:
            baseline_features = baseline_features or features(train, test)
            with limit_threads(threads):
                row, report = baseline_row(name, *baseline_features, train, test, seed, extra,
                                           notify)
        conventions = conventions or list(report.conventions)
        rows.append(row)
        notify("done", f"{row.fit_seconds:.2f} s fit")
    return CompareResult(rows, pair_name(train, test), train.n_samples, test.n_samples,
                         train.n_labels, conventions, constant_label_notices(train))


def network_options(name: str, seed: int, params: Mapping[str, Any]) -> Any:
    """The training options of network row `name` (its settings, the seed, then `params`)."""
    from multitag.options import TrainOptions

    return TrainOptions(**{**NETWORK_ROWS[name], "seed": seed, **params})


def network_row(name: str, train: Dataset, test: Dataset, seed: int,
                params: Mapping[str, Any], notify: Callable[..., None]) -> tuple[CompareRow, Any]:
    """Network row `name`: `multitag train` with its options, then `multitag evaluate`."""
    from multitag.pipeline.evaluate import evaluate_model
    from multitag.pipeline.fit import train as train_model

    options = network_options(name, seed, params)
    notify("fit")
    outcome = train_model(train, options)
    notify("predict")
    evaluation = evaluate_model(outcome.bundle, test)
    row = CompareRow(name, dict(evaluation.report.metrics), outcome.fit_seconds,
                     evaluation.predict_seconds, describe_rule(outcome.bundle.decision_rule))
    return row, evaluation.report


def baseline_row(name: str, X_train: Any, X_test: Any, train: Dataset, test: Dataset, seed: int,
                 params: Mapping[str, Any], notify: Callable[..., None]
                 ) -> tuple[CompareRow, Any]:
    """Baseline `name` fitted on (X_train, train's labels) and scored on X_test."""
    from multitag.metrics.evaluation import evaluate
    from multitag.models.baselines import make_baseline

    model = make_baseline(name, seed=seed, **dict(params))
    notify("fit")
    start = time.perf_counter()
    model.fit(X_train, train.Y_dense())
    fit_seconds = time.perf_counter() - start
    notify("predict")
    start = time.perf_counter()
    scores, predicted = model.predict_proba(X_test), model.predict(X_test)
    predict_seconds = time.perf_counter() - start
    report = evaluate(test.Y_dense(), scores, predicted, label_names=test.label_names)
    row = CompareRow(name, dict(report.metrics), fit_seconds, predict_seconds,
                     model.spec.rule)
    return row, report


def describe_rule(rule: Any) -> str:
    """A saved decision rule in a few words: "per-label thresholds (tuned)", "global 0.31"."""
    state = rule.to_dict()
    kind = state["rule"]
    if kind == "fixed":
        return f"fixed {state['params']['threshold']:g}"
    if kind == "global":
        return f"global {state['state']['threshold']:.3g} (tuned)"
    if kind == "per_label":
        return "per-label thresholds (tuned)"
    if kind == "top_k":
        return f"top-{state['params']['k']}"
    base = describe_rule(rule.base) if rule.base is not None else "fixed 0.5"
    return f"at least one label, else {base}"


def check_pair(train: Dataset, test: Dataset) -> None:
    """Train and test share their labels, and training has at least 2 rows."""
    if train.label_names != test.label_names:
        raise DataFormatError(
            f"train and test must have the same labels in the same order; got "
            f"{train.n_labels} and {test.n_labels} labels "
            f"(first train: {train.label_names[:3]}, first test: {test.label_names[:3]})")
    if train.n_samples < 2:
        raise DataFormatError(f"the training set needs at least 2 rows; got {train.n_samples}")


def features(train: Dataset, test: Dataset) -> tuple[Any, Any]:
    """The baselines' features of both sets: test columns aligned to train by name, missing
    values imputed and raw texts turned into TF-IDF (fitted on `train` only; no scaling here,
    each baseline scales its own input)."""
    from multitag.features.preprocessor import Preprocessor

    pre = Preprocessor(scale="none").fit(train)
    return pre.transform(train), pre.transform(test)


def constant_label_notices(data: Dataset) -> list[str]:
    """One line each for labels never / always positive in `data` (predicted constant)."""
    counts = np.asarray(data.Y.sum(axis=0)).ravel()
    notes = []
    for what, mask in (("never", counts == 0), ("always", counts == data.n_samples)):
        names = [data.label_names[j] for j in np.flatnonzero(mask)]
        if names:
            more = f" (+{len(names) - 10} more)" if len(names) > 10 else ""
            notes.append(f"{len(names)} label(s) {what} positive in training, predicted "
                         f"{'0' if what == 'never' else '1'} by every model: "
                         f"{', '.join(names[:10])}{more}")
    return notes


def pair_name(train: Dataset, test: Dataset) -> str:
    """The datasets' shared name: "emotions" for "emotions-train" and "emotions-test"."""
    name = re.sub(r"[-_.]?(train|training)$", "", train.name, flags=re.IGNORECASE)
    return name or test.name


@contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Cap BLAS and OpenMP thread pools to `threads` inside the block (None: no cap)."""
    if threads is None:
        yield
        return
    if int(threads) < 1:
        raise ConfigError(f"`threads` must be a positive integer or None; got {threads!r}")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(int(threads)):
        yield


def notifier(progress: Progress | None, model: str, index: int,
              total: int) -> Callable[..., None]:
    def notify(stage: str, detail: str = "") -> None:
        if progress is not None:
            progress(Step(model, stage, index, total, detail))

    return notify
