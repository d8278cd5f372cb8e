"""The one `Dataset` type that flows through the whole pipeline."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from multitag.data.encoding import FeatureEncoding
from multitag.exceptions import DataFormatError

Matrix = np.ndarray | sp.csr_matrix


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features `X` (float32 array or CSR), labels `Y` (0/1 uint8 array or CSR) and their names.

    `texts` holds raw documents when the data is text; the preprocessor turns them into TF-IDF
    features (then `X` may have zero columns). `notices` carries what a loader wants the user to
    know (a dropped identifier column, imputed values). NaN in `X` is allowed only when
    `has_missing` is set (the preprocessor imputes it); inf never is. `split_rows`: the file
    records a train/test split whose training part is its first `split_rows` rows (MEKA's
    `-split-number` / `-split-percentage`). `n_attributes`: the file's feature attributes before
    encoding (one-hot columns, dropped identifiers), when the reader knows them; `encoding`
    says what became of them (`FeatureEncoding.describe`).
    """

    X: Matrix
    Y: Matrix
    feature_names: list[str]
    label_names: list[str]
    name: str = ""
    texts: list[str] | None = None
    has_missing: bool = False
    notices: tuple[str, ...] = field(default_factory=tuple)
    split_rows: int | None = None
    n_attributes: int | None = None
    encoding: FeatureEncoding | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "X", _as_features(self.X))
        object.__setattr__(self, "Y", _as_labels(self.Y))
        object.__setattr__(self, "feature_names", [str(n) for n in self.feature_names])
        object.__setattr__(self, "label_names", [str(n) for n in self.label_names])
        self._validate()

    def _validate(self) -> None:
        where = f"dataset {self.name!r}: " if self.name else "dataset: "
        n_x, n_y = self.X.shape[0], self.Y.shape[0]
        if n_x != n_y:
            raise DataFormatError(f"{where}X has {n_x} rows but Y has {n_y}; they must agree")
        if self.X.shape[1] != len(self.feature_names):
            raise DataFormatError(
                f"{where}X has {self.X.shape[1]} columns but {len(self.feature_names)} "
                "feature names were given"
            )
        if self.Y.shape[1] != len(self.label_names):
            raise DataFormatError(
                f"{where}Y has {self.Y.shape[1]} columns but {len(self.label_names)} "
                "label names were given"
            )
        if self.texts is not None and len(self.texts) != n_x:
            raise DataFormatError(f"{where}{len(self.texts)} texts for {n_x} rows")
        if len(set(self.label_names)) != len(self.label_names):
            raise DataFormatError(f"{where}label names must be unique; got duplicates")
        _check_finite(self.X, allow_nan=self.has_missing, where=where)

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_labels(self) -> int:
        return int(self.Y.shape[1])

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.X)

    def Y_dense(self) -> np.ndarray:
        """Labels as a dense uint8 array."""
        return self.Y.toarray().astype(np.uint8) if sp.issparse(self.Y) else self.Y

    def subset(self, rows: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        """The rows `rows` (indices) as a new Dataset with the same names."""
        idx = np.asarray(rows, dtype=np.int64)
        texts = None if self.texts is None else [self.texts[i] for i in idx]
        return replace(
            self, X=self.X[idx], Y=self.Y[idx], texts=texts,
            name=self.name if name is None else name, split_rows=None,
        )

    def select_labels(self, names: Sequence[str]) -> Dataset:
        """The label columns `names`, in that order (a name the data lacks is an error)."""
        where = {n: j for j, n in enumerate(self.label_names)}
        missing = [n for n in names if n not in where]
        if missing:
            raise DataFormatError(
                f"{self.name or 'data'}: lacks the label(s) {', '.join(map(repr, missing[:5]))}"
                f" ({len(missing)} in all); expected the labels the model was trained on")
        columns = [where[n] for n in names]
        return replace(self, Y=self.Y[:, columns], label_names=list(names))

    def with_name(self, name: str) -> Dataset:
        return replace(self, name=name)

    def __repr__(self) -> str:
        kind = "sparse" if self.is_sparse else "dense"
        return (
            f"Dataset(name={self.name!r}, n_samples={self.n_samples}, "
            f"n_features={self.n_features} ({kind}), n_labels={self.n_labels})"
        )


def _as_features(X: object) -> Matrix:
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=np.float32)
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataFormatError(f"X must be 2-D (n_samples, n_features); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise DataFormatError(f"X must be numeric; got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_labels(Y: object) -> Matrix:
    if sp.issparse(Y):
        Y = sp.csr_matrix(Y)
        if Y.nnz and not np.isin(Y.data, (0, 1)).all():
            raise DataFormatError("Y must hold only 0 and 1")
        Y.eliminate_zeros()
        return sp.csr_matrix(Y, dtype=np.uint8)
    arr = np.asarray(Y)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise DataFormatError(f"Y must be 2-D (n_samples, n_labels); got shape {arr.shape}")
    if arr.size and not _is_binary(arr):
        bad = arr[(arr != 0) & (arr != 1)].ravel()[0].item()
        raise DataFormatError(f"Y must hold only 0 and 1; got {bad!r}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _is_binary(arr: np.ndarray) -> bool:
    """All values 0 or 1 (cheap for the usual unsigned dtypes; np.isin is several times slower)."""
    if arr.dtype == bool:
        return True
    if np.issubdtype(arr.dtype, np.unsignedinteger):
        return int(arr.max()) <= 1
    return bool(((arr == 0) | (arr == 1)).all())


def _check_finite(X: Matrix, *, allow_nan: bool, where: str) -> None:
    values = X.data if sp.issparse(X) else X
    if np.isfinite(values).all():
        return
    if np.isinf(values).any():
        raise DataFormatError(f"{where}X contains inf; features must be finite")
    if not allow_nan:
        rows = np.where(~np.isfinite(X.toarray() if sp.issparse(X) else X).all(axis=1))[0]
        raise DataFormatError(
            f"{where}X contains NaN (first in row {int(rows[0])}); impute or drop missing values"
        )


def data_fingerprint(X: object, Y: object, feature_names: Sequence[str] = (),
                     label_names: Sequence[str] = ()) -> dict[str, object]:
    """Digests of a dataset's shape, names, label counts and values (dense or CSR arrays,
    numpy or CPU torch tensors): equal for equal data, and the keys that differ say how two
    datasets differ (distributed ranks that read different files, a resume on other data)."""
    X_parts = _array_parts(X)
    Y_parts = _array_parts(Y)
    counts = np.asarray(Y.sum(axis=0)).ravel() if hasattr(Y, "sum") else np.zeros(0)
    return {"rows": int(np.shape(X)[0]), "features": int(np.shape(X)[1]),
            "labels": int(np.shape(Y)[1]), "feature_names": _digest(list(feature_names)),
            "label_names": _digest(list(label_names)),
            "label_counts": _digest([np.asarray(counts, dtype=np.float64)]),
            "values": _digest(X_parts + Y_parts)}


def _array_parts(values: object) -> list[np.ndarray]:
    if sp.issparse(values):
        csr = sp.csr_matrix(values)
        return [csr.indptr, csr.indices, csr.data]
    return [np.asarray(values)]


def _digest(parts: list[object]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(memoryview(array.reshape(-1)).cast("B"))  # also a (n, 0) block
        else:
            digest.update(str(part).encode("utf-8", "surrogatepass") + b"\x1f")
    return digest.hexdigest()
