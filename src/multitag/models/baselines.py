"""Baselines to compare the network with, registered by name: `make_baseline("br-svm", seed=0)`.

Every baseline is a `Baseline`: `fit(X, Y)` on a 0/1 label matrix, `predict(X)` -> 0/1 matrix and
`predict_proba(X)` -> per-label scores in [0, 1], both (n_samples, n_labels). Around the
scikit-learn model it
- scales features for the models that need it (`scaled=True`): dense data is standardised,
  sparse data stays sparse and is divided by each column's largest absolute value (MaxAbs);
- predicts labels that are constant in training (never or always positive) as that constant,
  fitting the model on the other labels only, so no model sees a one-class target;
- turns whatever the model gives into a score matrix: `predict_proba` (a matrix, or one array
  per label for multi-output models), else `decision_function` passed through a sigmoid. For
  `br-svm` that sigmoid keeps the ranking and the decision (score >= 0.5 exactly when the SVM
  predicts the label) but is not a calibrated probability, so its `loss` means little.

scikit-learn is imported when a baseline is built, not when this module
is, and before `fit`, so fit times do not include imports.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from multitag.exceptions import ConfigError, DataFormatError, NotFittedError

Builder = Callable[[int | None, dict[str, Any]], Any]


@dataclass(frozen=True)
class BaselineSpec:
    """A registered baseline: how to build its model and whether its input must be scaled."""

    name: str
    description: str
    build: Builder
    scaled: bool
    needs_2d_target: bool = False
    rule: str = "own: 0.5 on its probabilities"


_REGISTRY: dict[str, BaselineSpec] = {}


def register_baseline(spec: BaselineSpec) -> None:
    """Add (or replace) a baseline under `spec.name`."""
    _REGISTRY[spec.name] = spec


def baseline_names() -> list[str]:
    """Names of every registered baseline, in registration order."""
    return list(_REGISTRY)


def baseline_spec(name: str) -> BaselineSpec:
    """The spec of baseline `name`; an unknown name raises ConfigError listing the valid ones."""
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        raise ConfigError(
            f"unknown model {name!r}; valid names are: {', '.join(baseline_names())}")
    return _REGISTRY[key]


def make_baseline(name: str, *, seed: int | None = 0, **params: Any) -> Baseline:
    """An unfitted baseline `name`; `params` go to the underlying model (e.g. epochs=5)."""
    return Baseline(baseline_spec(name), seed=seed, params=params)


class Baseline:
    """A registered model wrapped for multi-label data (scaling, constant labels, scores)."""

    def __init__(self, spec: BaselineSpec, *, seed: int | None = 0,
                 params: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.seed = seed
        self.params = dict(params or {})
        # Built now so that imports are not counted in the fit time; `fit` trains a fresh one.
        self.estimator = spec.build(seed, dict(self.params))

    @property
    def name(self) -> str:
        return self.spec.name

    def fit(self, X: Any, Y: Any) -> Baseline:
        """Fit on features `X` (array or CSR) and a 0/1 label matrix `Y` (n_samples, n_labels)."""
        Y = _label_matrix(Y, X.shape[0])
        counts = Y.sum(axis=0)
        self.n_labels_ = Y.shape[1]
        self.constant_ = np.where(counts == 0, 0, np.where(counts == Y.shape[0], 1, -1))
        self.varying_ = np.flatnonzero(self.constant_ < 0)
        self.scaler_ = _make_scaler(X) if self.spec.scaled else None
        if self.scaler_ is not None:
            X = self.scaler_.fit_transform(X)
        self.model_ = None
        if len(self.varying_):
            # int64, not uint8: scikit-learn's LabelBinarizer (OneVsRest, MLPClassifier) keeps
            # the label indices in Y's dtype, so uint8 wraps past 255 labels and shuffles columns.
            target = Y[:, self.varying_].astype(np.int64)
            if target.shape[1] == 1 and not self.spec.needs_2d_target:
                target = target.ravel()
            self.model_ = self.spec.build(self.seed, dict(self.params))
            with warnings.catch_warnings():
                _quiet_convergence()
                self.model_.fit(X, target)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Per-label scores in [0, 1], shape (n_samples, n_labels)."""
        X = self._transform(X)
        out = self._constant_matrix(X.shape[0], np.float64)
        if self.model_ is not None:
            out[:, self.varying_] = _scores(self.model_, X, len(self.varying_))
        return out

    def predict(self, X: Any) -> np.ndarray:
        """0/1 label matrix (uint8), shape (n_samples, n_labels), from the model's own rule."""
        X = self._transform(X)
        out = self._constant_matrix(X.shape[0], np.uint8)
        if self.model_ is not None:
            pred = self.model_.predict(X)
            pred = pred.toarray() if sp.issparse(pred) else np.asarray(pred)
            out[:, self.varying_] = pred.reshape(X.shape[0], -1) > 0
        return out

    def _transform(self, X: Any) -> Any:
        if not hasattr(self, "constant_"):
            raise NotFittedError(f"baseline {self.name!r} is not fitted; call fit(X, Y) first")
        return self.scaler_.transform(X) if self.scaler_ is not None else X

    def _constant_matrix(self, n_rows: int, dtype: type) -> np.ndarray:
        return np.tile(np.clip(self.constant_, 0, 1).astype(dtype), (n_rows, 1))

    def __repr__(self) -> str:
        return f"Baseline({self.name!r}, seed={self.seed!r}, params={self.params!r})"


def _label_matrix(Y: Any, n_rows: int) -> np.ndarray:
    Y = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[0] != n_rows:
        raise DataFormatError(
            f"Y must be a 0/1 matrix with one row per row of X ({n_rows}); got shape {Y.shape}")
    if Y.size and not np.isin(Y, (0, 1)).all():
        raise DataFormatError("Y must hold only 0 and 1")
    return Y.astype(np.uint8)


def _make_scaler(X: Any) -> Any:
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler

    return MaxAbsScaler() if sp.issparse(X) else StandardScaler()


def _quiet_convergence() -> None:
    """Inside `warnings.catch_warnings()`: scikit-learn's iteration caps are not errors here."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)


def _scores(model: Any, X: Any, n_labels: int) -> np.ndarray:
    """The model's positive-class scores as an (n_samples, n_labels) matrix."""
    if hasattr(model, "predict_proba"):
        raw = model.predict_proba(X)
        if isinstance(raw, list):  # multi-output models: one (n, 2) array per label
            return np.column_stack([p[:, -1] for p in raw])
        raw = np.asarray(raw)
        if n_labels == 1 and raw.ndim == 2 and raw.shape[1] == 2:
            return raw[:, 1:]
        return raw.reshape(X.shape[0], n_labels)
    from scipy.special import expit

    return expit(np.asarray(model.decision_function(X)).reshape(X.shape[0], n_labels))


# --------------------------------------------------------------------------- ML-kNN
class MLkNN:
    """ML-kNN (Zhang & Zhou 2007): per label, a Bayes rule on how many of the k nearest
    training neighbours carry the label, with Laplace smoothing `s`.

    Prior P(H1) = (s + n_pos) / (2s + n). Likelihood P(E_c | H1) = (s + #positives with c
    positive neighbours) / (s(k + 1) + n_pos), likewise for H0 with the negatives; a training row
    is not its own neighbour. `predict_proba` is the posterior P(H1 | E_c), `predict` is
    posterior >= 0.5. Euclidean neighbours from scikit-learn's NearestNeighbors.
    """

    def __init__(self, k: int = 10, s: float = 1.0) -> None:
        self.k = k
        self.s = s

    def fit(self, X: Any, Y: Any) -> MLkNN:
        from sklearn.neighbors import NearestNeighbors

        Y = _label_matrix(Y, X.shape[0]).astype(np.float64)
        if int(self.k) < 1 or float(self.s) < 0:
            raise ConfigError(f"ML-kNN needs k >= 1 and s >= 0; got k={self.k!r}, s={self.s!r}")
        n, n_labels = Y.shape
        self.k_ = min(int(self.k), n - 1)
        if self.k_ < 1:
            raise DataFormatError("ML-kNN needs at least 2 training rows")
        self.neighbors_ = NearestNeighbors(n_neighbors=self.k_).fit(X)
        self.Y_ = Y
        counts = self._neighbour_counts(None)
        s, k1 = float(self.s), self.k_ + 1
        self.prior_ = (s + Y.sum(axis=0)) / (2 * s + n)
        index = (counts + np.arange(n_labels) * k1).ravel()
        hits = np.bincount(index, weights=Y.ravel(), minlength=n_labels * k1)
        total = np.bincount(index, minlength=n_labels * k1)
        hits, misses = hits.reshape(n_labels, k1), (total - hits).reshape(n_labels, k1)
        self.likelihood_pos_ = (s + hits) / (s * k1 + hits.sum(axis=1, keepdims=True))
        self.likelihood_neg_ = (s + misses) / (s * k1 + misses.sum(axis=1, keepdims=True))
        return self

    def _neighbour_counts(self, X: Any) -> np.ndarray:
        """(n_rows, n_labels) number of the k neighbours carrying each label."""
        rows = self.neighbors_.kneighbors(X, return_distance=False)
        n_rows, n_train = rows.shape[0], self.Y_.shape[0]
        indptr = np.arange(0, rows.size + 1, self.k_)
        adjacency = sp.csr_matrix((np.ones(rows.size), rows.ravel(), indptr),
                                  shape=(n_rows, n_train))
        return np.rint(adjacency @ self.Y_).astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        counts = self._neighbour_counts(X)
        labels = np.arange(counts.shape[1])
        pos = self.prior_ * self.likelihood_pos_[labels, counts]
        neg = (1.0 - self.prior_) * self.likelihood_neg_[labels, counts]
        return pos / (pos + neg)

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X) >= 0.5).astype(np.uint8)


# --------------------------------------------------------------------------- the baselines
def _br_lr(seed: int | None, params: dict[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(LogisticRegression(random_state=seed, **params))


def _br_svm(seed: int | None, params: dict[str, Any]) -> Any:
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    return OneVsRestClassifier(LinearSVC(random_state=seed, **params))


def _cc(seed: int | None, params: dict[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multioutput import ClassifierChain

    return ClassifierChain(LogisticRegression(**params), random_state=seed)


def _rf(seed: int | None, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=seed, **params)


def _knn(seed: int | None, params: dict[str, Any]) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(**params)


def _mlknn(seed: int | None, params: dict[str, Any]) -> Any:
    return MLkNN(**params)


def _sk_mlp(seed: int | None, params: dict[str, Any]) -> Any:
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(random_state=seed, **params)


for _spec in (
    BaselineSpec("br-lr", "binary relevance: one-vs-rest LogisticRegression", _br_lr, True),
    BaselineSpec("br-svm", "binary relevance: one-vs-rest LinearSVC (sigmoid of the margin)",
                 _br_svm, True, rule="own: the sign of the margin"),
    BaselineSpec("cc", "classifier chain of LogisticRegression", _cc, True,
                 needs_2d_target=True),
    BaselineSpec("rf", "RandomForestClassifier, multi-output", _rf, scaled=False),
    BaselineSpec("knn", "KNeighborsClassifier, multi-output", _knn, scaled=True),
    BaselineSpec("mlknn", "ML-kNN (Zhang & Zhou 2007), k=10, smoothing 1", _mlknn, True,
                 needs_2d_target=True),
    BaselineSpec("sk-mlp", "scikit-learn MLPClassifier with its defaults", _sk_mlp, True),
):
    register_baseline(_spec)
