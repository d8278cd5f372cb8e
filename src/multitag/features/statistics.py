"""Feature statistics merged chunk by chunk, for a file too large to load: the fitted
`Preprocessor` they give equals (up to the mean-for-median fill) one fitted on the whole file."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from multitag.exceptions import ConfigError
from multitag.features.preprocessor import SCALES as PREPROCESSOR_SCALES
from multitag.features.preprocessor import Preprocessor, safe_inverse


class FeatureMoments:
    """Column statistics merged chunk by chunk (Chan et al.'s parallel variance for dense X)."""

    def __init__(self, n_features: int, sparse: bool) -> None:
        self.sparse = sparse
        self.n = 0
        self.known = np.zeros(n_features)  # non-NaN values per column
        self.mean = np.zeros(n_features)
        self.m2 = np.zeros(n_features)
        self.total = np.zeros(n_features)  # sparse: sum of non-NaN values
        self.peak = np.zeros(n_features)  # sparse: largest absolute value

    def add(self, X: Any) -> None:
        self.n += X.shape[0]
        if self.sparse:
            X = sp.csr_matrix(X)
            nan = np.isnan(X.data)
            d = X.shape[1]
            self.known += X.shape[0] - np.bincount(X.indices[nan], minlength=d)
            values = np.where(nan, 0.0, np.abs(X.data))
            peak = np.zeros(d)
            np.maximum.at(peak, X.indices, values)
            self.peak = np.maximum(self.peak, peak)
            self.total += np.bincount(X.indices, weights=np.where(nan, 0.0, X.data), minlength=d)
            return
        X = np.asarray(X, dtype=np.float64)
        count = (~np.isnan(X)).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, np.nansum(X, axis=0) / np.maximum(count, 1), 0.0)
        m2 = np.nansum((X - mean) ** 2, axis=0)
        both = self.known + count
        delta = mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(both > 0, count / np.maximum(both, 1), 0.0)
        self.mean = self.mean + delta * share
        self.m2 = self.m2 + m2 + delta**2 * self.known * share
        self.known = both

    def preprocessor(self, feature_names: list[str], scale: str = "auto") -> Preprocessor:
        """The fitted Preprocessor these statistics give (NaN filled with the column mean)."""
        n_missing = int(self.n * len(feature_names) - self.known.sum()) if not self.sparse \
            else int((self.n - self.known).sum())
        notices = (f"imputed {n_missing} missing values with the training mean",) \
            if n_missing else ()
        if self.sparse:
            fill = np.where((self.known > 0) & (self.known < self.n),
                            self.total / np.maximum(self.known, 1), 0.0)
            peak = np.where(self.known < self.n, np.maximum(self.peak, np.abs(fill)), self.peak)
            return preprocessor_from_statistics(
                feature_names, sparse_input=True, center=None, spread=peak, fill=fill,
                scale=scale, notices=notices)
        std = np.sqrt(self.m2 / max(self.n, 1))
        return preprocessor_from_statistics(
            feature_names, sparse_input=False, center=self.mean, spread=std, fill=self.mean,
            scale=scale, notices=notices)


def preprocessor_from_statistics(
    feature_names: list[str], *, sparse_input: bool, center: np.ndarray | None,
    spread: np.ndarray | None, fill: np.ndarray | None, scale: str = "auto",
    notices: tuple[str, ...] = (),
) -> Preprocessor:
    """A fitted Preprocessor built from statistics gathered elsewhere (a pass over chunks of a
    file too large to fit at once). `spread` is each column's standard deviation (standard
    mode) or largest absolute value (maxabs), after filling NaN; `center` the column means
    (standard); `fill` the value NaN becomes (the column mean), or None for no imputation.
    Text (TF-IDF) needs the whole vocabulary and is not built this way."""
    pre = Preprocessor(scale=scale, impute="mean" if fill is not None else "none")
    if scale not in PREPROCESSOR_SCALES or scale == "tfidf":
        raise ConfigError(f"`scale` must be auto, standard, maxabs or none here; got {scale!r}")
    pre.feature_names_in_ = list(feature_names)
    pre.sparse_input_ = sparse_input
    pre.mode_ = pre.resolve_mode(sparse_input)
    pre.fill_ = None if fill is None else np.asarray(fill, dtype=np.float64)
    pre.notices_ = list(notices)
    pre.center_, pre.scale_ = None, None
    if pre.mode_ != "none" and len(feature_names):
        pre.scale_ = safe_inverse(spread)
        if pre.mode_ == "standard":
            pre.center_ = np.asarray(center, dtype=np.float64)
    pre.text_ = None
    pre.n_features_out_ = pre.count_outputs()
    return pre
