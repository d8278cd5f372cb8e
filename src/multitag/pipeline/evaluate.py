"""Scoring a model directory on labelled data: every metric, with the time prediction took."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from multitag.data.dataset import Dataset
from multitag.exceptions import DataFormatError


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


def evaluate_model(bundle: Any, data: Dataset,
                   predict_proba: Callable[[Dataset], np.ndarray] | None = None) -> Evaluation:
    """Predict `data` with the bundle (or `predict_proba(data)`, e.g. gathered from several
    processes) and compute every metric against its labels."""
    from multitag.decision.rules import rule_thresholds
    from multitag.metrics.evaluation import evaluate

    data = align_labels(bundle.label_names, data)
    check_same_labels(bundle, data)
    started = time.perf_counter()
    proba = (predict_proba or bundle.predict_proba)(data)
    predicted = bundle.decision_rule.predict(proba)
    seconds = time.perf_counter() - started
    report = evaluate(data.Y_dense(), proba, predicted, label_names=bundle.label_names)
    thresholds = rule_thresholds(bundle.decision_rule, len(bundle.label_names))
    if thresholds is not None:
        report = report.with_thresholds(thresholds)
    return Evaluation(report=report, predict_seconds=seconds, probabilities=proba)


def held_out_estimate(outcome: Any) -> Evaluation | None:
    """Every metric on the training rows the kept model held out (cross-fitting folds or the
    validation split), each row decided by a rule tuned on the other rows (threshold
    cross-validation): the estimate when there is no test set. None without held-out rows."""
    from multitag.decision.selection import cross_validated_predictions
    from multitag.metrics.evaluation import evaluate

    if outcome.held_out is None or not len(outcome.held_out[0]):
        return None
    Y, proba = outcome.held_out
    options, rule = outcome.options, outcome.bundle.decision_rule
    params = {"threshold": 0.5 if options.threshold == "auto" else options.threshold,
              "k": None if options.top_k == "auto" else options.top_k}
    predicted = cross_validated_predictions(rule.name, options.objective, Y, proba,
                                            options.seed, **params)
    report = evaluate(Y, proba, predicted, label_names=outcome.bundle.label_names)
    return Evaluation(report=report, predict_seconds=0.0, probabilities=proba)


def align_labels(bundle_labels: list[str], data: Dataset) -> Dataset:
    """`data` with the model's label columns, in the model's order, when it has them all
    (e.g. a test file read with every value of a multi-target attribute)."""
    if list(data.label_names) == list(bundle_labels) or not set(bundle_labels) <= set(
            data.label_names):
        return data
    return data.select_labels(bundle_labels)


def check_same_labels(bundle: Any, data: Dataset) -> None:
    """`data` has the model's labels, in the model's order."""
    if list(data.label_names) != list(bundle.label_names):
        missing = [n for n in bundle.label_names if n not in data.label_names]
        raise DataFormatError(
            f"{data.name or 'data'}: its labels differ from the model's "
            f"({data.n_labels} vs {len(bundle.label_names)}; missing: {missing[:5]})")
