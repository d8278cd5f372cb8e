"""`MultiLabelMLP`: the model `multitag train` builds, as a scikit-learn estimator.

Its parameters are the training options of `multitag.options` (one per option, same defaults:
`MultiLabelMLP()` is what `multitag train` does), plus `label_names` and `callbacks`; `fit`
trains through the one pipeline (`multitag.pipeline.fit.train`) and keeps the model directory
it would save (`bundle_`). `fit(X, Y)` with `Y` a 0/1 matrix (n_samples, n_labels) trains one
sigmoid output per label; `predict_proba` returns (n_samples, n_labels), always 2-D; `predict`
returns 0/1. A 1-D `y` (binary or multi-class target) is also accepted, as scikit-learn expects
of a classifier: the classes are one-hot encoded, `predict` returns class labels and
`predict_proba` (n_samples, n_classes) rows that sum to one.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from multitag.exceptions import ConfigError
from multitag.options import AUTO, DEFAULTS, OPTIONS, TrainOptions, describe_accepted, param_of

# Parameters that are not training options: how labels are named, and progress hooks.
_EXTRA = {"label_names": None, "callbacks": ()}
_PARAMS = {param_of(name): name for name in OPTIONS}  # estimator parameter -> option name


def _signature() -> inspect.Signature:
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [inspect.Parameter(param, keyword, default=DEFAULTS[name])
                   for param, name in _PARAMS.items()]
    parameters += [inspect.Parameter(name, keyword, default=default)
                   for name, default in _EXTRA.items()]
    return inspect.Signature(parameters)


def _docstring() -> str:
    lines = [
        "Dense/ReLU network with one sigmoid output per label: the model `multitag train` "
        "builds.", "",
        "Parameters (keyword-only; every check happens in `fit`; 'auto' is chosen from the "
        "training data's shape):",
    ]
    for param, name in _PARAMS.items():
        spec = OPTIONS[name]
        auto = f" 'auto': {spec.auto}." if spec.auto else ""
        lines.append(f"    {param} = {DEFAULTS[name]!r}: {spec.help} Accepts "
                     f"{describe_accepted(name)}.{auto}")
    lines += ["    label_names: names of the label columns (default label_0, label_1, ...).",
              "    callbacks: training progress hooks (multitag.training.trainer.Callback)."]
    return "\n".join(lines)


class MultiLabelMLP(ClassifierMixin, BaseEstimator):
    __doc__ = _docstring()

    def __init__(self, **params: Any) -> None:
        bound = _SIGNATURE.bind(self, **params)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if name != "self":
                setattr(self, name, value)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> MultiLabelMLP:
        """Train on features `X` (array or CSR) and targets `y` (0/1 matrix or 1-D classes)."""
        from multitag.data.dataset import Dataset
        from multitag.pipeline.fit import train

        options = self.training_options()
        X, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True,
                             dtype=np.float32, reset=True)
        Y = self._encode_targets(y)
        if self.single_output_:  # classes are predicted by the most probable one
            options = replace(options, decision="fixed", threshold=0.5, top_k=AUTO)
        names = [str(n) for n in getattr(self, "feature_names_in_", [])] or [
            f"x{i}" for i in range(X.shape[1])]
        data = Dataset(X=X, Y=Y.astype(np.uint8), feature_names=names,
                       label_names=list(self.label_names_))
        outcome = train(data, options, callbacks=tuple(self.callbacks or ()))
        self.bundle_ = outcome.bundle
        self.options_ = outcome.options
        self.notices_ = outcome.notices
        self.module_ = outcome.module
        self.decision_rule_ = outcome.bundle.decision_rule
        self.history_ = outcome.bundle.history
        self.fit_seconds_ = outcome.fit_seconds
        self.held_out_ = outcome.held_out
        self.member_results_ = outcome.member_results
        from multitag.decision.rules import rule_thresholds

        self.thresholds_ = rule_thresholds(self.decision_rule_, Y.shape[1])
        return self

    def training_options(self) -> TrainOptions:
        """This estimator's parameters as validated `TrainOptions` (a `ConfigError` names
        the first bad one)."""
        return TrainOptions(**{name: getattr(self, param) for param, name in _PARAMS.items()})

    def _encode_targets(self, y: Any) -> np.ndarray:
        y = y.toarray() if sp.issparse(y) else np.asarray(y)
        kind = type_of_target(y)
        if kind == "multiclass" and y.ndim == 2:
            warnings.warn("a column-vector y was passed where a 1-D array was expected; "
                          "it is treated as 1-D class labels", DataConversionWarning,
                          stacklevel=3)
            y = y.ravel()
        self.target_dtype_ = y.dtype
        if kind in ("binary", "multiclass") and y.ndim == 1:
            self.classes_ = np.unique(y)
            self.single_output_ = True
            Y = _one_hot(y, self.classes_)
        elif kind == "multilabel-indicator" or (kind == "binary" and y.ndim == 2):
            self.classes_ = np.arange(y.shape[1])
            self.single_output_ = False
            Y = y.astype(np.float32)
        else:
            raise ValueError(
                f"Unknown label type: {kind!r}; y must be a 0/1 label matrix (n_samples, "
                "n_labels) or a 1-D array of class labels")
        self.label_names_ = self._label_names(Y.shape[1])
        return Y

    def _label_names(self, n_labels: int) -> list[str]:
        names = self.label_names
        if self.single_output_:
            return [str(c) for c in self.classes_][-n_labels:]
        if names is None:
            return [f"label_{i}" for i in range(n_labels)]
        if len(names) != n_labels:
            raise ConfigError(f"`label_names` has {len(names)} names for {n_labels} labels")
        return [str(n) for n in names]

    # -- prediction ------------------------------------------------------------------------
    def decision_scores(self, X: Any) -> np.ndarray:
        """Per-label probabilities (n_samples, n_labels) from the sigmoid outputs."""
        check_is_fitted(self, "bundle_")
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
        return self.bundle_.predict_proba(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities: (n_samples, n_labels); for a 1-D target, (n_samples, n_classes)."""
        scores = self.decision_scores(X)
        if not self.single_output_:
            return scores
        if len(self.classes_) == 1:
            return np.ones((len(scores), 1), dtype=scores.dtype)
        if scores.shape[1] == 1:
            return np.hstack([1.0 - scores, scores])
        return scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)

    def predict(self, X: Any) -> np.ndarray:
        """0/1 label matrix (n_samples, n_labels); for a 1-D target, the predicted classes."""
        scores = self.decision_scores(X)
        if self.single_output_:
            return self.classes_[self._class_index(scores)]
        return self.decision_rule_.predict(scores).astype(self.target_dtype_)

    def _class_index(self, scores: np.ndarray) -> np.ndarray:
        if len(self.classes_) == 1:
            return np.zeros(len(scores), dtype=int)
        if len(self.classes_) == 2:  # as the argmax of predict_proba's two columns
            return (scores[:, 0] > 0.5).astype(int)
        return scores.argmax(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags


_SIGNATURE = _signature()
MultiLabelMLP.__init__.__signature__ = _SIGNATURE  # type: ignore[attr-defined]


def _one_hot(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """One column for a binary target (the second class), one per class otherwise; a single
    class is one column of ones."""
    if len(classes) == 1:
        return np.ones((len(y), 1), dtype=np.float32)
    if len(classes) == 2:
        return (y == classes[1]).astype(np.float32).reshape(-1, 1)
    return (y[:, None] == classes[None, :]).astype(np.float32)


__all__: Sequence[str] = ["MultiLabelMLP"]
