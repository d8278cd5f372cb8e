"""Cross-validated comparison for a file without a test split: `cross_validate(data, models,
folds=K)` cuts the rows into K label-stratified folds, runs `compare` with each fold as the test
set and the others as training data, and reports every metric as mean ± standard deviation over
the folds. The network rows are trained by the pipeline, as `multitag train` would."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError
from multitag.pipeline.compare import (
    DEFAULT_MODELS,
    CompareRow,
    Progress,
    Step,
    compare,
    lower_is_better,
    parse_models,
)

DEFAULT_FOLDS = 5


@dataclass(frozen=True)
class CVRow:
    """One model's rows over the folds; `value` is the mean, `spread` the standard deviation
    (sample, over the folds where the metric is defined)."""

    model: str
    folds: list[CompareRow]

    def _values(self, column: str) -> list[float]:
        return [v for v in (row.value(column) for row in self.folds) if v is not None]

    def value(self, column: str) -> float | None:
        values = self._values(column)
        return float(np.mean(values)) if values else None

    def spread(self, column: str) -> float | None:
        values = self._values(column)
        return float(statistics.stdev(values)) if len(values) > 1 else None

    @property
    def decision_rule(self) -> str:
        """The rule each fold used, without its tuned numbers: "global (tuned)", or
        "global (tuned) x3, per-label thresholds (tuned) x2"."""
        kinds = Counter(re.sub(r" \d[0-9.e-]*(?= \(tuned\))", "", row.decision_rule)
                        for row in self.folds)
        if len(kinds) == 1:
            return next(iter(kinds))
        return ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common())


@dataclass(frozen=True)
class CVResult:
    """Rows in the order the models were given, over `n_folds` folds of `n_rows` rows."""

    rows: list[CVRow]
    dataset: str = ""
    n_rows: int = 0
    n_labels: int = 0
    n_folds: int = 0
    conventions: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return [row.model for row in self.rows]

    def best_per_column(self, columns: Sequence[str]) -> dict[str, list[str]]:
        """For each column, the model(s) with the best mean."""
        best: dict[str, list[str]] = {}
        for column in columns:
            values = [(r.model, r.value(column)) for r in self.rows if r.value(column) is not None]
            if not values:
                best[column] = []
                continue
            target = (min if lower_is_better(column) else max)(v for _, v in values)
            best[column] = [m for m, v in values if np.isclose(v, target, rtol=0, atol=1e-12)]
        return best

    def metrics_json(self) -> dict[str, dict[str, Any]]:
        """{model: {metric: mean, ..., "std": {metric: std}, "folds": [per-fold metrics]}}."""
        payload = {}
        for row in self.rows:
            columns = [*row.folds[0].metrics, "fit_seconds", "predict_seconds"]
            payload[row.model] = {
                **{c: row.value(c) for c in columns},
                "std": {c: row.spread(c) for c in columns},
                "decision_rule": row.decision_rule, "n_folds": len(row.folds),
                "folds": [{**f.metrics, "fit_seconds": f.fit_seconds,
                           "predict_seconds": f.predict_seconds,
                           "decision_rule": f.decision_rule} for f in row.folds]}
        return payload


def check_folds(folds: object, n_rows: int | None = None) -> int:
    """`folds` as an integer from 2 to the number of rows (each fold needs a row; without
    `n_rows`, only the lower bound is checked)."""
    top = n_rows if n_rows is not None else float("inf")
    if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= top:
        rows = f" ({n_rows})" if n_rows is not None else ""
        raise ConfigError(f"`--folds` must be an integer from 2 to the number of rows{rows}; "
                          f"got {folds!r}")
    return folds


def cross_validate(data: Dataset, models: Sequence[str] = DEFAULT_MODELS, *,
                   folds: int = DEFAULT_FOLDS, seed: int = 0,
                   params: Mapping[str, Mapping[str, Any]] | None = None,
                   progress: Progress | None = None, threads: int | None = 1) -> CVResult:
    """Every model scored on each of `folds` label-stratified folds, trained on the others."""
    from multitag.pipeline.members import fold_assignment

    names = parse_models(models)
    check_folds(folds, data.n_samples)
    assignment = fold_assignment(data.Y_dense(), folds, seed)
    per_model: dict[str, list[CompareRow]] = {name: [] for name in names}
    result = None
    for k in range(folds):
        train = data.subset(np.flatnonzero(assignment != k), f"{data.name}-fold{k + 1}-train")
        test = data.subset(np.flatnonzero(assignment == k), f"{data.name}-fold{k + 1}")
        result = compare(train, test, names, seed=seed, params=params, threads=threads,
                         progress=_fold_progress(progress, k, folds, len(names)))
        for row in result.rows:
            per_model[row.model].append(row)
    notices = _constant_labels(data, assignment, folds)
    return CVResult([CVRow(name, rows) for name, rows in per_model.items()], data.name,
                    data.n_samples, data.n_labels, folds,
                    list(result.conventions) if result else [], notices)


def _fold_progress(progress: Progress | None, fold: int, folds: int,
                   n_models: int) -> Progress | None:
    if progress is None:
        return None

    def relay(step: Step) -> None:
        progress(Step(f"{step.model} (fold {fold + 1}/{folds})", step.stage,
                      fold * n_models + step.index, folds * n_models, step.detail))

    return relay


def _constant_labels(data: Dataset, assignment: np.ndarray, folds: int) -> list[str]:
    counts = np.asarray(data.Y.sum(axis=0)).ravel()
    rare = [name for name, c in zip(data.label_names, counts) if 0 < c < folds]
    if not rare:
        return []
    more = f" (+{len(rare) - 10} more)" if len(rare) > 10 else ""
    return [f"{len(rare)} label(s) have fewer positive rows than folds, so some folds never "
            f"see them in training or test: {', '.join(rare[:10])}{more}"]
