"""`Preprocessor`: the feature transform, fitted on training data only and saved with the model.

Dense numeric columns are standardised; sparse input stays CSR and is scaled without centring
(by each column's largest absolute value) or TF-IDF weighted and row-normalised; missing values
(NaN) are imputed with the training median or mean; raw texts (`Dataset.texts`) become TF-IDF
features (scikit-learn's TfidfVectorizer) placed after the numeric columns. The fitted state is
JSON plus named numpy arrays (`to_state`/`from_state`); nothing is pickled.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from multitag.data.dataset import Dataset
from multitag.exceptions import ConfigError, DataFormatError, ModelFileError, NotFittedError
from multitag.features.state import (
    IMPUTES,
    SCALES,
    STATE_FORMAT,
    STATE_VERSION,
    check_state,
    fit_text,
    jsonable,
    load_text,
    text_state,
)

Matrix = np.ndarray | sp.csr_matrix


class Preprocessor:
    """Fitted feature transform. `scale`: auto (standard if dense, maxabs if sparse), standard
    (sparse input is scaled without centring, as maxabs, so it stays sparse), maxabs, tfidf
    (sparse only) or none; `impute`: median, mean or none (then NaN is an error). Columns are
    matched by name at transform time: a one-hot (`name=value`) or sparse column missing from
    new data is zero, any other missing column is an error."""

    def __init__(
        self, scale: str = "auto", impute: str = "median", *, text_max_features: int | None =
        100_000, text_ngram_range: tuple[int, int] = (1, 1), text_min_df: int = 1,
        text_max_df: float = 1.0, text_sublinear_tf: bool = True, text_lowercase: bool = True,
    ) -> None:
        self.scale = scale
        self.impute = impute
        self.text_max_features = text_max_features
        self.text_ngram_range = text_ngram_range
        self.text_min_df = text_min_df
        self.text_max_df = text_max_df
        self.text_sublinear_tf = text_sublinear_tf
        self.text_lowercase = text_lowercase

    # --- fitting -----------------------------------------------------------------------------

    def fit(self, data: Dataset) -> Preprocessor:
        """Learn fill values, scales and the text vocabulary from `data` (training data only)."""
        self._check_params(data)
        self.feature_names_in_ = list(data.feature_names)
        self.sparse_input_ = data.is_sparse
        self.mode_ = self.resolve_mode(data.is_sparse)
        X = data.X.copy()
        self.fill_ = self._fit_fill(X)
        self.notices_ = self._fill_notices(data)
        _fill_nan(X, self.fill_)
        self.center_, self.scale_ = self._fit_scale(X)
        self.text_ = fit_text(data.texts, self._text_params()) if data.texts is not None else None
        self.n_features_out_ = self.count_outputs()
        return self

    def _check_params(self, data: Dataset) -> None:
        if self.scale not in SCALES:
            raise ConfigError(f"`scale` must be one of {', '.join(SCALES)}; got {self.scale!r}")
        if self.impute not in IMPUTES:
            raise ConfigError(
                f"`impute` must be one of {', '.join(IMPUTES)}; got {self.impute!r}"
            )
        if self.scale == "tfidf" and not data.is_sparse:
            raise ConfigError("`scale='tfidf'` needs sparse features; got dense X")
        if data.n_samples == 0:
            raise DataFormatError(f"dataset {data.name!r}: no rows to fit the preprocessor on")

    def resolve_mode(self, sparse_input: bool) -> str:
        if self.scale == "auto":
            return "maxabs" if sparse_input else "standard"
        if self.scale == "standard" and sparse_input:
            return "maxabs"  # centring would make sparse data dense
        return self.scale

    def _fit_fill(self, X: Matrix) -> np.ndarray | None:
        if self.impute == "none":
            return None
        if sp.issparse(X):
            return _sparse_fill(X, self.impute)
        with warnings.catch_warnings():  # an all-NaN column warns; it is filled with 0
            warnings.simplefilter("ignore", RuntimeWarning)
            stat = np.nanmedian(X, axis=0) if self.impute == "median" else np.nanmean(X, 0)
        return np.nan_to_num(np.asarray(stat, dtype=np.float64), nan=0.0)

    def _fill_notices(self, data: Dataset) -> list[str]:
        values = data.X.data if data.is_sparse else data.X
        n_missing = int(np.isnan(values).sum())
        if not n_missing:
            return []
        if self.fill_ is None:
            raise _missing_error(data, self.feature_names_in_)
        return [f"imputed {n_missing} missing values with the training {self.impute}"]

    def _fit_scale(self, X: Matrix) -> tuple[np.ndarray | None, np.ndarray | None]:
        d = X.shape[1]
        if self.mode_ == "none" or d == 0:
            return None, None
        if self.mode_ == "standard":
            std = X.std(axis=0) if X.shape[0] else np.ones(d)
            return X.mean(axis=0).astype(np.float64), safe_inverse(std)
        if self.mode_ == "maxabs":
            peak = abs(X).max(axis=0)
            return None, safe_inverse(peak.toarray().ravel() if sp.issparse(peak) else peak)
        df = np.bincount(X.indices[X.data != 0], minlength=d)
        return None, np.log((1.0 + X.shape[0]) / (1.0 + df)) + 1.0

    def _text_params(self) -> dict[str, Any]:
        return {
            "lowercase": self.text_lowercase, "ngram_range": tuple(self.text_ngram_range),
            "min_df": self.text_min_df, "max_df": self.text_max_df,
            "max_features": self.text_max_features, "sublinear_tf": self.text_sublinear_tf,
        }

    def count_outputs(self) -> int:
        n_text = len(self.text_.vocabulary_) if self.text_ is not None else 0
        return len(self.feature_names_in_) + n_text

    # --- transforming ------------------------------------------------------------------------

    def transform(self, data: Dataset) -> Matrix:
        """Features of `data` as the model sees them: float32 ndarray, or CSR if sparse/text."""
        return self.transform_with_notices(data)[0]

    def transform_with_notices(self, data: Dataset) -> tuple[Matrix, list[str]]:
        """`transform`, plus what the user should know (columns filled in or left out)."""
        self._check_fitted()
        X, notices = self._align(data)
        if self.fill_ is None and np.isnan(X.data if sp.issparse(X) else X).any():
            raise _missing_error(data, self.feature_names_in_)
        if self.fill_ is not None:
            _fill_nan(X, self.fill_)
        X = self._scale(X)
        if self.text_ is not None:
            X = self._with_text(X, data)
        return _as_float32(X), notices

    def fit_transform(self, data: Dataset) -> Matrix:
        return self.fit(data).transform(data)

    def _check_fitted(self) -> None:
        if not hasattr(self, "mode_"):
            raise NotFittedError("this Preprocessor is not fitted yet; call fit(train) first")

    def _align(self, data: Dataset) -> tuple[Matrix, list[str]]:
        """Columns in the fitted order, matched by name (missing sparse/one-hot columns -> 0)."""
        names = self.feature_names_in_
        X = data.X.astype(np.float64)
        if list(data.feature_names) == names:
            return (X.tocsr() if sp.issparse(X) else X), []
        where = {n: i for i, n in enumerate(data.feature_names)}
        missing = [n for n in names if n not in where]
        can_zero = self.sparse_input_ or data.is_sparse
        hard = [n for n in missing if not can_zero and "=" not in n]
        if hard:
            raise DataFormatError(
                f"dataset {data.name!r} lacks feature(s) {', '.join(map(repr, hard[:5]))} that "
                "the preprocessor was fitted on; expected the training data's columns"
            )
        return _take_columns(X, [where.get(n, -1) for n in names]), _align_notices(
            data, names, missing, where
        )

    def _scale(self, X: Matrix) -> Matrix:
        if self.scale_ is None:
            return X
        if not sp.issparse(X):
            return (X - self.center_) * self.scale_ if self.center_ is not None else X * self.scale_
        X = X.tocsr(copy=True)
        X.data *= self.scale_[X.indices]
        if self.mode_ == "tfidf":
            norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
            X = sp.csr_matrix(sp.diags(safe_inverse(norms)) @ X)
        return X

    def _with_text(self, X: Matrix, data: Dataset) -> sp.csr_matrix:
        if data.texts is None:
            raise DataFormatError(
                f"dataset {data.name!r} has no text, but the preprocessor was fitted with a text "
                "column; give --text-column"
            )
        text = self.text_.transform(data.texts)
        if X.shape[1] == 0:
            return sp.csr_matrix(text)
        return sp.hstack([sp.csr_matrix(X), text], format="csr")

    # --- saving ------------------------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-serialisable description and named arrays; `from_state` rebuilds it exactly."""
        self._check_fitted()
        arrays = {
            k: np.asarray(v, dtype=np.float64)
            for k, v in (("fill", self.fill_), ("center", self.center_), ("scale", self.scale_))
            if v is not None
        }
        text = None
        if self.text_ is not None:
            text, arrays["text_idf"] = text_state(self.text_, self._text_params())
        state = {
            "format": STATE_FORMAT, "version": STATE_VERSION,
            "params": {"scale": self.scale, "impute": self.impute,
                       **{f"text_{k}": v for k, v in jsonable(self._text_params()).items()}},
            "feature_names": list(self.feature_names_in_), "sparse_input": self.sparse_input_,
            "mode": self.mode_, "text": text, "notices": list(self.notices_),
        }
        return state, arrays

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        """Rebuild a fitted Preprocessor from `to_state` output. The state may come from an
        untrusted file: every value is checked first (`features.state`) and only checked
        values reach a constructor; a problem is a `ModelFileError` naming the field."""
        params = check_state(state, arrays)
        self = cls(**{**params, "text_ngram_range": tuple(params["text_ngram_range"])})
        mode = self.resolve_mode(state["sparse_input"])
        if state["mode"] != mode or (mode == "tfidf" and not state["sparse_input"]):
            raise ModelFileError(f"preprocessor state: mode: {state['mode']!r} does not follow "
                                 f"from params.scale {self.scale!r} on "
                                 f"{'sparse' if state['sparse_input'] else 'dense'} input")
        self.feature_names_in_ = list(state["feature_names"])
        self.sparse_input_ = state["sparse_input"]
        self.mode_ = mode
        self.notices_ = list(state.get("notices", []))
        self.fill_, self.center_, self.scale_ = (
            arrays.get(k) for k in ("fill", "center", "scale")
        )
        self.text_ = (load_text(state["text"], arrays.get("text_idf"))
                      if state["text"] is not None else None)
        self.n_features_out_ = self.count_outputs()
        return self


def safe_inverse(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    out = np.ones_like(arr)
    ok = np.isfinite(arr) & (arr > 0)
    out[ok] = 1.0 / arr[ok]
    return out


def _sparse_fill(X: sp.csr_matrix, how: str) -> np.ndarray:
    """Per-column mean or median over the rows where the column is not NaN (zeros count)."""
    X = sp.csc_matrix(X)
    n = X.shape[0]
    fill = np.zeros(X.shape[1])
    for j in range(X.shape[1]):
        vals = X.data[X.indptr[j]:X.indptr[j + 1]]
        nan = np.isnan(vals)
        if not nan.any():
            continue
        known = vals[~nan]
        n_zero = n - len(vals)
        pool = np.concatenate([known, np.zeros(n_zero)])
        if pool.size:
            fill[j] = np.median(pool) if how == "median" else pool.mean()
    return fill


def _fill_nan(X: Matrix, fill: np.ndarray | None) -> None:
    if fill is None:
        return
    if sp.issparse(X):
        nan = np.isnan(X.data)
        if nan.any():
            X.data[nan] = fill[X.indices[nan]]
        return
    rows, cols = np.nonzero(np.isnan(X))
    X[rows, cols] = fill[cols]


def _missing_error(data: Dataset, names: list[str]) -> DataFormatError:
    X = data.X.tocsc() if data.is_sparse else data.X
    if sp.issparse(X):
        col = int(np.searchsorted(X.indptr, int(np.flatnonzero(np.isnan(X.data))[0]), "right") - 1)
    else:
        col = int(np.flatnonzero(np.isnan(X).any(axis=0))[0])
    name = data.feature_names[col] if col < len(data.feature_names) else names[col]
    return DataFormatError(
        f"dataset {data.name!r}: feature {name!r} has missing values (NaN) and imputation is off; "
        "expected finite numbers, or impute='median'/'mean'"
    )


def _take_columns(X: Matrix, source: list[int]) -> Matrix:
    """Columns `source` of X (-1 -> a column of zeros)."""
    src = np.asarray(source, dtype=np.int64)
    if sp.issparse(X):
        pick = sp.csr_matrix(
            (np.ones(int((src >= 0).sum())), (src[src >= 0], np.flatnonzero(src >= 0))),
            shape=(X.shape[1], len(src)),
        )
        return sp.csr_matrix(X.tocsr() @ pick)
    out = np.zeros((X.shape[0], len(src)))
    out[:, src >= 0] = X[:, src[src >= 0]]
    return out


def _align_notices(
    data: Dataset, names: list[str], missing: list[str], where: dict[str, int]
) -> list[str]:
    notices = []
    if missing:
        notices.append(f"{len(missing)} feature(s) absent from {data.name!r} were set to 0")
    extra = len(set(where) - set(names))
    if extra:
        notices.append(f"{extra} feature(s) of {data.name!r} unknown to the model were ignored")
    return notices


def _as_float32(X: Matrix) -> Matrix:
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float32)
    return np.ascontiguousarray(X, dtype=np.float32)
