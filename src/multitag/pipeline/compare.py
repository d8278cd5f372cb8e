"""Models side by side on one split (`compare`) and learning curves for bias vs variance.

`compare(train, test, ["mlp", "br-svm", ...])` fits every model on the same training data and
scores it on the same test data with `multitag.metrics.evaluation.evaluate`; `learning_curve`
refits on
growing shares of the training data and records training and test scores; `diagnose` says in one
sentence whether each model looks like high variance or high bias; `plot_curve` draws the curves
to a PNG. Library code: nothing is printed, progress goes to an optional callback.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError

DEFAULT_MODELS = ("mlp", "br-lr", "br-svm", "cc", "rf", "knn", "mlknn")
CURVE_MODELS = ("mlp", "br-svm")
CURVE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
TIME_COLUMNS = ("fit_seconds", "predict_seconds")
# Metrics a learning curve can use: bounded in [0, 1] (a loss is turned into 1 - loss).
_BOUNDED_LOSSES = frozenset({"hamming_loss", "ranking_loss", "one_error"})
VARIANCE_GAP = 0.10  # train better than test by more than this: high variance
BIAS_LEVEL = 0.80  # training score (goodness in [0, 1]) below this with a small gap: high bias


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
    """One model's test metrics (DESIGN names, None where undefined) and its timings."""

    model: str
    metrics: dict[str, float | None]
    fit_seconds: float
    predict_seconds: float

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

    def metrics_json(self) -> dict[str, dict[str, float | None]]:
        """{model: {metric: value, ..., fit_seconds, predict_seconds}} ready for json.dump."""
        return {row.model: {**row.metrics, "fit_seconds": row.fit_seconds,
                            "predict_seconds": row.predict_seconds} for row in self.rows}


def lower_is_better(column: str) -> bool:
    """Whether a smaller value is better in column `column` (losses, errors, seconds)."""
    from multitag.metrics.evaluation import LOWER_IS_BETTER

    return column in LOWER_IS_BETTER or column in TIME_COLUMNS


def parse_models(spec: str | Sequence[str]) -> list[str]:
    """Model names from "mlp,br-lr" or a list; unknown names raise ConfigError listing all."""
    from multitag.models.baselines import baseline_spec

    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [baseline_spec(item).name for item in items if str(item).strip()]
    if not names:
        raise ConfigError("no model names given; give at least one, e.g. mlp,br-svm")
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- compare
def compare(
    train: Dataset, test: Dataset, models: Sequence[str] = DEFAULT_MODELS, *, seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None, progress: Progress | None = None,
    threads: int | None = 1,
) -> CompareResult:
    """Fit every model in `models` on `train`, score it on `test`; `params` overrides a model's
    settings by name (e.g. {"mlp": {"epochs": 5}}). `threads` caps the BLAS/OpenMP threads of
    scikit-learn's models (None: library default); 1 is fastest for small problems and on a busy
    machine (two BLAS threads made logistic regression ~15x slower there)."""
    names = parse_models(models)
    X_train, X_test = features(train, test)
    Y_train, Y_test = train.Y_dense(), test.Y_dense()
    rows, conventions = [], []
    for index, name in enumerate(names):
        notify = _notifier(progress, name, index, len(names))
        with limit_threads(threads):
            fitted = fit_model(name, X_train, Y_train, seed, (params or {}).get(name, {}),
                               notify)
            notify("predict")
            scores, Y_pred, predict_seconds = _timed_predict(fitted.model, X_test)
        report = _evaluate(Y_test, scores, Y_pred, test.label_names)
        conventions = conventions or list(report.conventions)
        rows.append(CompareRow(name, dict(report.metrics), fitted.seconds, predict_seconds))
        notify("done", f"{fitted.seconds:.2f} s fit")
    return CompareResult(rows, pair_name(train, test), train.n_samples, test.n_samples,
                         train.n_labels, conventions, constant_label_notices(train))


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


@dataclass(frozen=True)
class Fitted:
    model: Any
    seconds: float


def fit_model(name: str, X: Any, Y: np.ndarray, seed: int, params: Mapping[str, Any],
              notify: Callable[..., None] | None = None) -> Fitted:
    """A freshly built baseline `name`, fitted on (X, Y), with the wall time it took."""
    from multitag.models.baselines import make_baseline

    model = make_baseline(name, seed=seed, **dict(params))
    if notify is not None:
        notify("fit")
    start = time.perf_counter()
    model.fit(X, Y)
    return Fitted(model, time.perf_counter() - start)


def features(train: Dataset, test: Dataset) -> tuple[Any, Any]:
    """Model-ready features of both sets: test columns aligned to train by name, missing
    values imputed and raw texts turned into TF-IDF (fitted on `train` only; no scaling here,
    each model scales its own input)."""
    from multitag.features.preprocessor import Preprocessor

    if train.label_names != test.label_names:
        raise DataFormatError(
            f"train and test must have the same labels in the same order; got "
            f"{train.n_labels} and {test.n_labels} labels "
            f"(first train: {train.label_names[:3]}, first test: {test.label_names[:3]})")
    if train.n_samples < 2:
        raise DataFormatError(f"the training set needs at least 2 rows; got {train.n_samples}")
    pre = Preprocessor(scale="none").fit(train)
    return pre.transform(train), pre.transform(test)


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


def _timed_predict(model: Any, X: Any) -> tuple[np.ndarray, np.ndarray, float]:
    start = time.perf_counter()
    scores = model.predict_proba(X)
    Y_pred = model.predict(X)
    return scores, Y_pred, time.perf_counter() - start


def _evaluate(Y: np.ndarray, scores: np.ndarray, Y_pred: np.ndarray,
              label_names: Sequence[str] | None = None) -> Any:
    from multitag.metrics.evaluation import evaluate

    return evaluate(Y, scores, Y_pred, label_names=label_names)


def _notifier(progress: Progress | None, model: str, index: int,
              total: int) -> Callable[..., None]:
    def notify(stage: str, detail: str = "") -> None:
        if progress is not None:
            progress(Step(model, stage, index, total, detail))

    return notify


# --------------------------------------------------------------------------- learning curves
@dataclass(frozen=True)
class CurvePoint:
    """Scores of one model trained on the first `n_train` rows of a shuffled training set."""

    model: str
    fraction: float
    n_train: int
    train_score: float | None
    test_score: float | None


@dataclass(frozen=True)
class CurveResult:
    """Training-set size against training and test score, per model, for one metric."""

    metric: str
    points: list[CurvePoint]
    dataset: str = ""
    n_test: int = 0

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(p.model for p in self.points))

    @property
    def greater_is_better(self) -> bool:
        return not lower_is_better(self.metric)

    def for_model(self, model: str) -> list[CurvePoint]:
        return [p for p in self.points if p.model == model]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: metric, dataset and one dict per point."""
        return {"metric": self.metric, "dataset": self.dataset, "n_test": self.n_test,
                "greater_is_better": self.greater_is_better,
                "points": [vars(p).copy() for p in self.points]}


def learning_curve(
    train: Dataset, test: Dataset, models: Sequence[str] = CURVE_MODELS,
    fractions: Sequence[float] = CURVE_FRACTIONS, metric: str = "micro_f1", *, seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None, progress: Progress | None = None,
    threads: int | None = 1,
) -> CurveResult:
    """Refit each model on growing shares of `train` (nested random subsets, one shuffle by
    `seed`) and score it on that share (training score) and on `test` (test score).
    `threads` as in `compare`."""
    metric = curve_metric(metric)
    names, sizes = parse_models(models), _curve_sizes(fractions, train.n_samples)
    X_train, X_test = features(train, test)
    Y_train, Y_test = train.Y_dense(), test.Y_dense()
    order = np.random.default_rng(seed).permutation(train.n_samples)
    points, total = [], len(names) * len(sizes)
    for m, name in enumerate(names):
        for s, (fraction, size) in enumerate(sizes):
            notify = _notifier(progress, f"{name} @ {size} rows", m * len(sizes) + s, total)
            rows = np.sort(order[:size])
            with limit_threads(threads):
                fitted = fit_model(name, X_train[rows], Y_train[rows], seed,
                                   (params or {}).get(name, {}), notify)
                train_score = _score(fitted.model, X_train[rows], Y_train[rows], metric)
                test_score = _score(fitted.model, X_test, Y_test, metric)
            points.append(CurvePoint(name, fraction, size, train_score, test_score))
            notify("done", f"{metric} train {train_score} test {test_score}")
    return CurveResult(metric, points, pair_name(train, test), test.n_samples)


def curve_metric(metric: str) -> str:
    """The canonical metric name, if a learning curve can use it (bounded in [0, 1])."""
    from multitag.metrics.evaluation import parse_metric_name

    name = parse_metric_name(metric)
    if lower_is_better(name) and name not in _BOUNDED_LOSSES:
        raise ConfigError(
            f"a learning curve needs a metric bounded in [0, 1]; got {metric!r} (use a score "
            f"such as micro_f1, or one of {', '.join(sorted(_BOUNDED_LOSSES))})")
    return name


def _curve_sizes(fractions: Sequence[float], n_rows: int) -> list[tuple[float, int]]:
    values = sorted({float(f) for f in fractions})
    if not values or values[0] <= 0 or values[-1] > 1:
        raise ConfigError(f"fractions must be in (0, 1]; got {list(fractions)!r}")
    return [(f, max(2, min(n_rows, round(f * n_rows)))) for f in values]


def _score(model: Any, X: Any, Y: np.ndarray, metric: str) -> float | None:
    value = _evaluate(Y, model.predict_proba(X), model.predict(X)).metrics.get(metric)
    return None if value is None else float(value)


# --------------------------------------------------------------------------- diagnosis
def diagnose(curve: CurveResult) -> str:
    """One sentence: per model, high variance (train far better than test), high bias (both
    poor) or neither, judged at the largest training size."""
    clauses = [_model_clause(curve, model) for model in curve.models]
    where = f" on {curve.dataset}" if curve.dataset else ""
    return f"At the full training set{where} ({curve.metric}), " + "; ".join(clauses) + "."


def _model_clause(curve: CurveResult, model: str) -> str:
    last = curve.for_model(model)[-1]
    if last.train_score is None or last.test_score is None:
        return f"{model} cannot be judged ({curve.metric} undefined)"
    train, test = _goodness(curve, last.train_score), _goodness(curve, last.test_score)
    numbers = f"train {last.train_score:.3f}, test {last.test_score:.3f}"
    if train - test > VARIANCE_GAP and train < BIAS_LEVEL:
        return (f"{model} looks like high variance and some bias too ({numbers}: train far "
                "better than test, and even the training score is modest)")
    if train - test > VARIANCE_GAP:
        return (f"{model} looks like high variance ({numbers}: train far better than test; "
                "more data or more regularisation should help)")
    if train < BIAS_LEVEL:
        return (f"{model} looks like high bias ({numbers}: both poor and close; a more "
                "flexible model or better features should help, more data will not)")
    return f"{model} shows neither high bias nor high variance ({numbers})"


def _goodness(curve: CurveResult, value: float) -> float:
    return value if curve.greater_is_better else 1.0 - value


# --------------------------------------------------------------------------- plot
def plot_curve(curve: CurveResult, path: str | Path) -> Path:
    """Write the learning curves as a PNG (one panel per model: train dashed, test solid)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = curve.models
    fig = Figure(figsize=(4.2 * max(1, len(models)), 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, max(1, len(models)), sharey=True, squeeze=False)[0]
    for ax, model in zip(axes, models):
        pts = curve.for_model(model)
        sizes = [p.n_train for p in pts]
        ax.plot(sizes, _nan(p.train_score for p in pts), "o--", label="training")
        ax.plot(sizes, _nan(p.test_score for p in pts), "s-", label="test")
        ax.set_title(model)
        ax.set_xlabel("training rows")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(curve.metric + (" (higher is better)" if curve.greater_is_better
                                       else " (lower is better)"))
    axes[0].legend(loc="best")
    where = f" - {curve.dataset}" if curve.dataset else ""
    fig.suptitle(f"Learning curves{where} (test set: {curve.n_test} rows)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _nan(values: Any) -> list[float]:
    return [np.nan if v is None else v for v in values]
