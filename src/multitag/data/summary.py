"""What `multitag data info` and `multitag data split-report` show, as plain result objects."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from multitag.data.dataset import Dataset


@dataclass(frozen=True)
class DataSummary:
    """Shape, sparsity and label statistics of one Dataset."""

    name: str
    n_samples: int
    n_features: int
    sparse: bool
    feature_density: float
    n_labels: int
    label_cardinality: float
    label_density: float
    distinct_label_sets: int
    rows_without_labels: int
    labels_never_present: int
    rarest: list[tuple[str, int]]
    most_frequent: list[tuple[str, int]]
    has_missing: bool
    has_text: bool
    notices: tuple[str, ...] = field(default_factory=tuple)
    n_attributes: int | None = None  # the file's feature attributes before encoding
    encoding: str = ""  # what became of them (FeatureEncoding.describe)

    @property
    def features_line(self) -> str:
        """E.g. '1,186 attributes -> 1,240 encoded features (3 nominal one-hot; ...)'; just
        the feature count when the reader did not say or nothing was encoded."""
        if self.n_attributes is None or (
                self.n_attributes == self.n_features and not self.encoding):
            return f"{self.n_features:,}"
        how = f" ({self.encoding})" if self.encoding else ""
        return (f"{self.n_attributes:,} attribute{'' if self.n_attributes == 1 else 's'} -> "
                f"{self.n_features:,} encoded feature{'' if self.n_features == 1 else 's'}{how}")

    def to_dict(self) -> dict[str, object]:
        out = dict(self.__dict__)
        out["rarest"] = [list(x) for x in self.rarest]
        out["most_frequent"] = [list(x) for x in self.most_frequent]
        out["notices"] = list(self.notices)
        out["features"] = self.features_line
        return out


def label_counts(Y: np.ndarray | sp.spmatrix) -> np.ndarray:
    """How many rows carry each label."""
    return np.asarray(Y.sum(axis=0)).ravel().astype(np.int64)


def distinct_label_sets(Y: np.ndarray | sp.spmatrix) -> int:
    """Number of different label combinations (the empty set counts)."""
    if Y.shape[0] == 0:
        return 0
    if sp.issparse(Y):
        Y = sp.csr_matrix(Y)
        Y.sort_indices()
        ind, ptr = Y.indices, Y.indptr
        return len({ind[a:b].tobytes() for a, b in itertools.pairwise(ptr)})
    packed = np.packbits(np.asarray(Y, dtype=bool), axis=1)
    return len(np.unique(packed, axis=0))


def summarize(data: Dataset, top: int = 5) -> DataSummary:
    """Samples, features (dense/sparse, density), labels and their statistics."""
    n, d, n_labels = data.n_samples, data.n_features, data.n_labels
    nnz = data.X.nnz if data.is_sparse else int(np.count_nonzero(data.X))
    counts = label_counts(data.Y)
    per_row = np.asarray(data.Y.sum(axis=1)).ravel()
    order = np.argsort(counts, kind="stable")
    cardinality = float(per_row.mean()) if n else 0.0
    return DataSummary(
        name=data.name, n_samples=n, n_features=d, sparse=data.is_sparse,
        feature_density=nnz / (n * d) if n * d else 0.0,
        n_labels=n_labels, label_cardinality=cardinality,
        label_density=cardinality / n_labels if n_labels else 0.0,
        distinct_label_sets=distinct_label_sets(data.Y),
        rows_without_labels=int((per_row == 0).sum()),
        labels_never_present=int((counts == 0).sum()),
        rarest=[(data.label_names[i], int(counts[i])) for i in order[:top]],
        most_frequent=[(data.label_names[i], int(counts[i])) for i in order[::-1][:top]],
        has_missing=data.has_missing, has_text=data.texts is not None, notices=data.notices,
        n_attributes=data.n_attributes,
        encoding=data.encoding.describe() if data.encoding is not None else "",
    )


@dataclass(frozen=True)
class SplitReport:
    """Rows per part and, per label, how many rows of each part carry it."""

    parts: list[str]
    sizes: list[int]
    label_names: list[str]
    counts: np.ndarray  # (n_labels, n_parts)
    method: str = ""

    @property
    def labels_missing_somewhere(self) -> list[str]:
        """Labels with at least as many examples as parts, yet absent from some part."""
        enough = self.counts.sum(axis=1) >= len(self.parts)
        absent = (self.counts == 0).any(axis=1)
        return [n for n, bad in zip(self.label_names, enough & absent, strict=True) if bad]

    def to_dict(self) -> dict[str, object]:
        return {
            "parts": self.parts, "sizes": self.sizes, "method": self.method,
            "labels": {
                name: dict(zip(self.parts, map(int, row), strict=True))
                for name, row in zip(self.label_names, self.counts, strict=True)
            },
            "labels_missing_somewhere": self.labels_missing_somewhere,
        }


def split_report(parts: dict[str, Dataset], method: str = "") -> SplitReport:
    """Per-label counts in each part; labels are matched by name (union, first part's order)."""
    column: dict[str, int] = {}
    for data in parts.values():
        for n in data.label_names:
            column.setdefault(n, len(column))
    names = list(column)
    counts = np.zeros((len(names), len(parts)), dtype=np.int64)
    for k, data in enumerate(parts.values()):
        idx = [column[n] for n in data.label_names]
        counts[idx, k] = label_counts(data.Y)
    return SplitReport(
        parts=list(parts), sizes=[d.n_samples for d in parts.values()], label_names=names,
        counts=counts, method=method,
    )
