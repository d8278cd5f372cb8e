"""`MultiLabelMLP`: a scikit-learn compatible multi-label neural network.

`fit(X, Y)` with `Y` a 0/1 matrix (n_samples, n_labels) trains one sigmoid output per label;
`predict_proba` returns (n_samples, n_labels) probabilities, always 2-D; `predict` returns 0/1.
A 1-D `y` (ordinary binary or multi-class target) is also accepted, as scikit-learn expects of a
classifier: the classes are one-hot encoded, `predict` returns class labels and `predict_proba`
(n_samples, n_classes) rows that sum to one.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from multitag.exceptions import ConfigError

VALIDATION_STRATEGIES = ("stratified", "random", "tail")


class MultiLabelMLP(ClassifierMixin, BaseEstimator):
    """Dense/ReLU network with one sigmoid output per label, trained with BCE (or focal /
    asymmetric loss; `pos_weight="auto"` up-weights rare labels' positives) and Adam.

    Parameters are stored as given; every check happens in `fit`. Fitted attributes end in `_`.
    """

    def __init__(
        self, hidden: Sequence[int] = (256,), *, epochs: int = 100, batch_size: int = 64,
        learning_rate: float = 1e-3, optimizer: str = "adam", weight_decay: float = 0.0,
        lr_schedule: str = "constant", dropout: float = 0.0, linear_skip: bool = False,
        validation_split: float = 0.1,
        validation_strategy: str = "stratified",
        early_stopping_patience: int | None = 10, standardize: bool = True,
        threshold: float = 0.5, decision: str = "fixed", objective: str = "micro_f1",
        loss: str = "bce", pos_weight: str | Sequence[float] | None = None,
        loss_options: dict[str, float] | None = None,
        ensemble: int = 1, ensemble_folds: bool = True, n_jobs: int | None = None,
        early_stopping_monitor: str = "loss", device: str = "auto",
        mixed_precision: bool = False,
        label_names: Sequence[str] | None = None,
        random_state: int | None = None, threads: int | None = None,
        callbacks: Sequence[Any] = (), distributed: bool = False,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.dropout = dropout
        self.linear_skip = linear_skip
        self.validation_split = validation_split
        self.validation_strategy = validation_strategy
        self.early_stopping_patience = early_stopping_patience
        self.standardize = standardize
        self.threshold = threshold
        self.decision = decision
        self.objective = objective
        self.loss = loss
        self.pos_weight = pos_weight
        self.loss_options = loss_options
        self.ensemble = ensemble
        self.ensemble_folds = ensemble_folds
        self.n_jobs = n_jobs
        self.early_stopping_monitor = early_stopping_monitor
        self.device = device
        self.mixed_precision = mixed_precision
        self.label_names = label_names
        self.random_state = random_state
        self.threads = threads
        self.callbacks = callbacks
        self.distributed = distributed

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> MultiLabelMLP:
        """Train on features `X` (array or CSR) and targets `y` (0/1 matrix or 1-D classes)."""
        import time

        from multitag.models.ensemble import Ensemble, out_of_fold_proba, train_members

        self._check_params()
        X, y = validate_data(self, X, y, accept_sparse="csr", multi_output=True,
                             dtype=np.float32, reset=True)
        Y = self._encode_targets(y)
        seed = self._seed_used = self._seed()
        self.scaler_ = self._fit_scaler(X)
        X = self._scale(X)
        started = time.perf_counter()
        splits = self._member_splits(Y, seed)
        n_jobs = self._n_jobs(len(splits))
        self._notify("on_ensemble_begin", len(splits), n_jobs)
        fits = train_members(len(splits), lambda i: self._fit_member(X, Y, *splits[i], seed + i),
                             n_jobs)
        networks = [fit.network for fit in fits]
        self.module_ = networks[0] if len(networks) == 1 else Ensemble(networks)
        self.member_results_ = [fit.result for fit in fits]
        self.train_result_ = _combined_result(self.member_results_,
                                              time.perf_counter() - started)
        self.history_ = self.train_result_.history
        self._notify("on_ensemble_end", self.member_results_, self.train_result_.fit_seconds)
        proba, held_out = out_of_fold_proba(fits, *Y.shape)
        self.splits_, self.held_out_ = splits, held_out
        self.held_out_proba_ = proba[held_out]
        self._fit_decision_rule(Y[held_out], proba[held_out])
        return self

    def _member_splits(self, Y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(training rows, validation rows) for each network of the ensemble."""
        from multitag.models.ensemble import member_splits

        return member_splits(Y, int(self.ensemble), bool(self.ensemble_folds),
                             float(self.validation_split), self.validation_strategy, seed)

    def _fit_member(self, X: Any, Y: np.ndarray, train_rows: np.ndarray,
                    valid_rows: np.ndarray, seed: int) -> Any:
        """Train one network on `train_rows`, early-stopping on `valid_rows`."""
        import torch

        from multitag.models.ensemble import MemberFit
        from multitag.models.inference import predict_scores
        from multitag.models.losses import loss_spec_from
        from multitag.models.mlp import MLP
        from multitag.training.config import TrainConfig
        from multitag.training.trainer import Trainer

        torch.manual_seed(seed)
        network = MLP(X.shape[1], Y.shape[1], tuple(self.hidden), self.dropout,
                      linear_skip=bool(self.linear_skip))
        config = TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
            optimizer=self.optimizer, weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            early_stopping_patience=self.early_stopping_patience if len(valid_rows) else None,
            seed=seed, threads=self.threads,
            loss=loss_spec_from(self.loss, self.pos_weight, **(self.loss_options or {})),
            monitor="score" if self.early_stopping_monitor == "objective" else "loss",
            device=self.device, mixed_precision=bool(self.mixed_precision),
        )
        valid = (X[valid_rows], Y[valid_rows]) if len(valid_rows) else (None, None)
        callbacks = self.callbacks if self._n_jobs(int(self.ensemble)) == 1 else ()
        scorer = objective_scorer(self.objective) if config.monitor == "score" else None
        if self.distributed:  # data-parallel over the torch.distributed process group
            from multitag.training.distributed import DistributedTrainer as Trainer
        result = Trainer(config, callbacks, scorer).fit(
            network, X[train_rows], Y[train_rows], *valid)
        pin_constant_labels(network, Y)
        held_out = predict_scores(network, X[valid_rows]) if len(valid_rows) else None
        return MemberFit(network=network, result=result, held_out_rows=valid_rows,
                         held_out_proba=held_out)

    def _notify(self, hook: str, *args: Any) -> None:
        """Call `hook(*args)` on the callbacks that have it (ensemble progress)."""
        if int(self.ensemble) > 1:
            for callback in self.callbacks:
                if hasattr(callback, hook):
                    getattr(callback, hook)(*args)

    def _n_jobs(self, n_members: int) -> int:
        if n_members == 1:
            return 1
        if self.n_jobs is not None:
            return max(1, min(int(self.n_jobs), n_members))
        if self.device != "cpu":  # a GPU is not shared with forked workers
            from multitag.training.trainer import resolve_device

            if resolve_device(self.device).type != "cpu":
                return 1
        import os

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        return max(1, min(cores, n_members))

    def _check_params(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, int) or not all(
            isinstance(h, (int, np.integer)) and h > 0 for h in hidden
        ):
            raise ConfigError(f"`hidden` must be a sequence of positive integers; got {hidden!r}")
        if not 0.0 <= float(self.validation_split) < 1.0:
            raise ConfigError(
                f"`validation_split` must be a float in [0, 1); got {self.validation_split!r}")
        if self.validation_strategy not in VALIDATION_STRATEGIES:
            raise ConfigError(f"`validation_strategy` must be one of {VALIDATION_STRATEGIES}; "
                              f"got {self.validation_strategy!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"`dropout` must be a float in [0, 1); got {self.dropout!r}")
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, (int, np.integer)) \
                or self.ensemble < 1:
            raise ConfigError(f"`ensemble` must be a positive integer; got {self.ensemble!r}")
        if self.early_stopping_monitor not in ("loss", "objective"):
            raise ConfigError("`early_stopping_monitor` must be 'loss' or 'objective'; got "
                              f"{self.early_stopping_monitor!r}")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ConfigError(f"`threshold` must be a float in [0, 1]; got {self.threshold!r}")

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
            if len(self.classes_) == 1:
                Y = np.ones((len(y), 1), dtype=np.float32)
            elif len(self.classes_) == 2:
                Y = (y == self.classes_[1]).astype(np.float32).reshape(-1, 1)
            else:
                Y = (y[:, None] == self.classes_[None, :]).astype(np.float32)
        elif kind == "multilabel-indicator" or (kind == "binary" and y.ndim == 2):
            self.classes_ = np.arange(y.shape[1])
            self.single_output_ = False
            Y = y.astype(np.float32)
        else:
            raise ValueError(
                f"Unknown label type: {kind!r}; y must be a 0/1 label matrix (n_samples, "
                "n_labels) or a 1-D array of class labels")
        names = self.label_names
        if names is not None and len(names) != Y.shape[1] and not self.single_output_:
            raise ConfigError(f"`label_names` has {len(names)} names for {Y.shape[1]} labels")
        self.label_names_ = (
            [str(n) for n in names] if names is not None and not self.single_output_
            else [str(c) for c in self.classes_] if self.single_output_
            else [f"label_{i}" for i in range(Y.shape[1])]
        )
        return Y

    def _seed(self) -> int:
        if self.random_state is None:
            return random.SystemRandom().randrange(2**31)
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(np.random.RandomState(self.random_state).randint(2**31))

    def _fit_scaler(self, X: Any) -> StandardScaler | None:
        if not self.standardize:
            return None
        return StandardScaler(with_mean=not sp.issparse(X)).fit(X)

    def _scale(self, X: Any, dtype: type = np.float32) -> Any:
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return sp.csr_matrix(X, dtype=dtype) if sp.issparse(X) else X.astype(dtype, copy=False)

    def _fit_decision_rule(self, Y_held_out: np.ndarray, proba_held_out: np.ndarray) -> None:
        """Tune the decision rule on held-out rows (a fixed threshold needs none); `auto`
        keeps whichever of a global and a per-label threshold cross-validates better."""
        from multitag.decision.rules import make_rule
        from multitag.pipeline.selection import best_rule

        self.decision_score_, self.decision_choice_ = float("nan"), ""
        if self.decision == "fixed" or not len(Y_held_out) or self.single_output_:
            self.decision_rule_ = make_rule("fixed", threshold=float(self.threshold))
        else:
            self.decision_rule_, self.decision_score_, self.decision_choice_ = best_rule(
                self.decision, self.objective, Y_held_out, proba_held_out, self._seed_used)
        self.thresholds_ = rule_thresholds(self.decision_rule_, self.module_.output.out_features)

    # -- prediction ------------------------------------------------------------------------
    def decision_scores(self, X: Any, *, scaled: bool = False) -> np.ndarray:
        """Per-label probabilities (n_samples, n_labels) from the sigmoid outputs."""
        from multitag.models.inference import predict_scores

        check_is_fitted(self, "module_")
        if not scaled:
            X = validate_data(self, X, accept_sparse="csr", dtype=np.float64, reset=False)
            X = self._scale(X, np.float64)
        return predict_scores(self.module_, X)

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
        if len(self.classes_) == 2:
            return self.decision_rule_.predict(scores)[:, 0].astype(int)
        return scores.argmax(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        tags.non_deterministic = self.random_state is None
        return tags


def pin_constant_labels(network: Any, Y: np.ndarray) -> None:
    """A label absent from (present in) every training row gets probability ~0 (~1) for any
    input: its output weights are zeroed and its bias set to -/+20."""
    import torch

    never, always = ~Y.any(axis=0), Y.all(axis=0)
    if not (never.any() or always.any()):
        return
    layers = [network.output] + ([network.skip] if network.skip is not None else [])
    with torch.no_grad():
        for label in np.flatnonzero(never | always):
            for layer in layers:
                layer.weight[label] = 0.0
            network.output.bias[label] = 20.0 if always[label] else -20.0


def objective_scorer(objective: str) -> Any:
    """score(Y, proba): `objective` at the best global threshold, higher is better (Hamming
    loss negated). Early stopping on it keeps training while the decisions still improve,
    long after the validation loss has turned up on small data."""
    from multitag.decision.rules import make_rule, objective_value

    def score(Y: np.ndarray, proba: np.ndarray) -> float:
        Y = Y.astype(np.uint8)
        predicted = make_rule("global", objective=objective).fit(Y, proba).predict(proba)
        value = objective_value(objective, Y, predicted)
        return -value if objective == "hamming" else value

    return score


def rule_thresholds(rule: Any, n_labels: int) -> np.ndarray | None:
    """The per-label thresholds a threshold rule applies (None for top-k style rules)."""
    state = rule.to_dict()
    if state["rule"] == "fixed":
        return np.full(n_labels, float(state["params"]["threshold"]))
    if state["rule"] == "global":
        return np.full(n_labels, float(state["state"]["threshold"]))
    if state["rule"] == "per_label":
        return np.asarray(state["state"]["thresholds"], dtype=np.float64)
    return None



def _combined_result(results: Sequence[Any], seconds: float) -> Any:
    """One TrainResult for an ensemble: the first network's history, the rounded mean best
    epoch, the wall time of all of them."""
    from dataclasses import replace

    first = results[0]
    if len(results) == 1:
        return first
    return replace(first, best_epoch=round(float(np.mean([r.best_epoch for r in results]))),
                   stopped_early=all(r.stopped_early for r in results), fit_seconds=seconds)
