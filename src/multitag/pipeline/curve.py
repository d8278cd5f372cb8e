"""Learning curves for bias vs variance: refit on growing shares of the training data, score on
that share and on the test set (`learning_curve`), and say in one sentence what they show
(`diagnose`). The network rows are trained by the one pipeline, as `multitag train` would.
The picture is drawn by `multitag.report.curves.plot_curve`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError
from multitag.pipeline.compare import (
    NETWORK_ROWS,
    Progress,
    check_pair,
    features,
    limit_threads,
    lower_is_better,
    network_options,
    notifier,
    pair_name,
    parse_models,
)

CURVE_MODELS = ("mlp", "br-svm")
CURVE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
# Metrics a learning curve can use: bounded in [0, 1] (a loss is turned into 1 - loss).
_BOUNDED_LOSSES = frozenset({"hamming_loss", "ranking_loss", "one_error"})
VARIANCE_GAP = 0.10  # train better than test by more than this: high variance
BIAS_LEVEL = 0.80  # training score (goodness in [0, 1]) below this with a small gap: high bias


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
    `seed`) and score it on that share (training score) and on `test` (test score). The
    network rows are trained by the pipeline, as `multitag train`; `threads` as in `compare`."""
    metric = curve_metric(metric)
    names, sizes = parse_models(models), _curve_sizes(fractions, train.n_samples)
    check_pair(train, test)
    baseline_features = None
    order = np.random.default_rng(seed).permutation(train.n_samples)
    points, total = [], len(names) * len(sizes)
    for m, name in enumerate(names):
        for s, (fraction, size) in enumerate(sizes):
            notify = notifier(progress, f"{name} @ {size} rows", m * len(sizes) + s, total)
            rows = np.sort(order[:size])
            extra = dict((params or {}).get(name, {}))
            if name in NETWORK_ROWS:
                scores = _network_scores(name, train, rows, test, seed, extra, metric, notify)
            else:
                baseline_features = baseline_features or features(train, test)
                with limit_threads(threads):
                    scores = _baseline_scores(name, *baseline_features, train, rows, test,
                                              seed, extra, metric, notify)
            points.append(CurvePoint(name, fraction, size, *scores))
            notify("done", f"{metric} train {_show(scores[0])} test {_show(scores[1])}")
    return CurveResult(metric, points, pair_name(train, test), test.n_samples)


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _network_scores(name: str, train: Dataset, rows: np.ndarray, test: Dataset, seed: int,
                    params: Mapping[str, Any], metric: str,
                    notify: Callable[..., None]) -> tuple[float | None, float | None]:
    from multitag.pipeline.fit import train as train_model

    part = train.subset(rows)
    notify("fit")
    bundle = train_model(part, network_options(name, seed, params)).bundle

    def score(data: Dataset) -> float | None:
        proba = bundle.predict_proba(data)
        return _metric(data.Y_dense(), proba, bundle.decision_rule.predict(proba), metric)

    return score(part), score(test)


def _baseline_scores(name: str, X_train: Any, X_test: Any, train: Dataset, rows: np.ndarray,
                     test: Dataset, seed: int, params: Mapping[str, Any], metric: str,
                     notify: Callable[..., None]) -> tuple[float | None, float | None]:
    from multitag.models.baselines import make_baseline

    model = make_baseline(name, seed=seed, **dict(params))
    notify("fit")
    Y_train = train.Y_dense()[rows]
    model.fit(X_train[rows], Y_train)

    def score(X: Any, Y: np.ndarray) -> float | None:
        return _metric(Y, model.predict_proba(X), model.predict(X), metric)

    return score(X_train[rows], Y_train), score(X_test, test.Y_dense())


def _metric(Y: np.ndarray, proba: np.ndarray, predicted: np.ndarray,
            metric: str) -> float | None:
    from multitag.metrics.evaluation import evaluate

    value = evaluate(Y, proba, predicted).metrics.get(metric)
    return None if value is None else float(value)


def curve_metric(metric: str) -> str:
    """The canonical metric name, if a learning curve can use it (bounded in [0, 1])."""
    from multitag.metrics.names import parse_metric_name

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


