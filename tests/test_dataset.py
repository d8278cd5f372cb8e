"""The Dataset type: validated once on construction, sparse kept sparse."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from multitag.data.dataset import Dataset
from multitag.exceptions import DataFormatError


def _make(X=None, Y=None, **kwargs) -> Dataset:
    X = np.zeros((3, 2)) if X is None else X
    Y = np.array([[0, 1], [1, 0], [1, 1]]) if Y is None else Y
    return Dataset(X=X, Y=Y, feature_names=kwargs.pop("feature_names", ["a", "b"]),
                   label_names=kwargs.pop("label_names", ["x", "y"]), **kwargs)


def test_types_and_properties() -> None:
    data = _make()
    assert data.X.dtype == np.float32 and data.Y.dtype == np.uint8
    assert (data.n_samples, data.n_features, data.n_labels) == (3, 2, 2)
    assert not data.is_sparse


def test_sparse_stays_sparse_and_subset_keeps_names() -> None:
    data = _make(X=sp.csr_matrix(np.eye(3, 2)), Y=sp.csr_matrix(np.eye(3, 2)), texts=list("pqr"))
    part = data.subset([2, 0], name="part")
    assert part.is_sparse and sp.issparse(part.Y)
    assert part.texts == ["r", "p"] and part.label_names == ["x", "y"]
    np.testing.assert_array_equal(part.Y_dense(), [[0, 0], [1, 0]])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"X": np.zeros((4, 2))}, "X has 4 rows but Y has 3"),
    ({"feature_names": ["a"]}, "X has 2 columns but 1 feature names"),
    ({"label_names": ["x", "x"]}, "label names must be unique"),
    ({"Y": np.array([[0, 2], [1, 0], [1, 1]])}, "Y must hold only 0 and 1; got 2"),
    ({"Y": np.array([[0, 0.5], [1, 0], [1, 1]])}, "Y must hold only 0 and 1; got 0.5"),
    ({"X": np.array([[0, np.inf], [0, 0], [0, 0]])}, "X contains inf"),
    ({"X": np.array([[0, 0], [np.nan, 0], [0, 0]])}, r"X contains NaN \(first in row 1\)"),
    ({"X": np.array([["a", "b"]] * 3)}, "X must be numeric"),
    ({"texts": ["only one"]}, "1 texts for 3 rows"),
])
def test_bad_data_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        _make(**kwargs)


def test_missing_values_allowed_when_flagged() -> None:
    data = _make(X=np.array([[0, 0], [np.nan, 0], [0, 0]]), has_missing=True)
    assert np.isnan(data.X).sum() == 1
