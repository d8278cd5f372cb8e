"""MultiLabelMLP as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from multitag.estimator import MultiLabelMLP
from multitag.exceptions import ConfigError

# Checks that cannot hold for this estimator, and why.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


def _fast(**params: object) -> MultiLabelMLP:
    return MultiLabelMLP(hidden=(16,), epochs=20, batch_size=32, random_state=0, **params)


@parametrize_with_checks([MultiLabelMLP(random_state=0)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator: MultiLabelMLP, check) -> None:
    check(estimator)


def test_multilabel_shapes_and_names(tiny_multilabel) -> None:
    X, Y = tiny_multilabel
    model = _fast(label_names=["a", "b", "c", "d"]).fit(X, Y)
    proba = model.predict_proba(X[:5])
    assert proba.shape == (5, 4) and proba.min() >= 0 and proba.max() <= 1
    assert set(np.unique(model.predict(X))) <= {0, 1}
    assert model.label_names_ == ["a", "b", "c", "d"]
    assert model.n_features_in_ == 8


def test_single_label_column_stays_two_dimensional(tiny_multilabel) -> None:
    X, Y = tiny_multilabel
    model = _fast().fit(X, Y[:, :1])
    assert model.predict_proba(X).shape == (300, 1)
    assert model.predict(X).shape == (300, 1)


def test_learns_better_than_predicting_the_majority(tiny_multilabel) -> None:
    X, Y = tiny_multilabel
    model = MultiLabelMLP(random_state=0).fit(X[:200], Y[:200])
    majority = (Y[:200].mean(axis=0) > 0.5).astype(np.uint8)
    assert (model.predict(X[200:]) == Y[200:]).mean() > (majority == Y[200:]).mean() + 0.05


def test_sparse_input(tiny_multilabel) -> None:
    X, Y = tiny_multilabel
    model = _fast().fit(sp.csr_matrix(X), Y)
    assert model.predict_proba(sp.csr_matrix(X[:3])).shape == (3, 4)


def test_same_seed_same_predictions(tiny_multilabel) -> None:
    X, Y = tiny_multilabel
    a = _fast().fit(X, Y).predict_proba(X)
    b = _fast().fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_works_in_pipeline_and_grid_search(tiny_multilabel) -> None:
    X, Y = tiny_multilabel
    pipe = make_pipeline(StandardScaler(), _fast(scale="none"))
    search = GridSearchCV(pipe, {"multilabelmlp__hidden": [(8,), (16,)]}, cv=2)
    search.fit(X, Y)
    assert search.best_estimator_.predict(X).shape == Y.shape


@pytest.mark.parametrize(("params", "message"), [
    ({"hidden": (0,)}, r"\(hidden\) must be positive integers separated by commas"),
    ({"hidden": 32}, r"\(hidden\) must be positive integers"),
    ({"validation_split": 1.5}, r"\(validation_split\) must be a number in \[0, 1\)"),
    ({"threshold": 1.5}, r"\(threshold\) must be a number in \[0, 1\] or 'auto'; got 1.5"),
    ({"epochs": 0}, r"\(epochs\) must be an integer >= 1"),
    ({"validation_strategy": "middle"}, r"\(validation_strategy\) must be one of"),
])
def test_bad_parameters_raise_in_fit(tiny_multilabel, params, message) -> None:
    X, Y = tiny_multilabel
    model = MultiLabelMLP(**params)  # __init__ only stores
    with pytest.raises(ConfigError, match=message):
        model.fit(X, Y)


def test_wrong_feature_count_at_predict(tiny_multilabel) -> None:
    X, Y = tiny_multilabel
    model = _fast().fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :5])
