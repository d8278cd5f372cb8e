"""Baselines: every registered model fits multi-label data; ML-kNN checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit

from multitag.exceptions import ConfigError, NotFittedError
from multitag.models.baselines import MLkNN, baseline_names, make_baseline

FAST = {"rf": {"n_estimators": 10}, "sk-mlp": {"max_iter": 20}}
EXPECTED = {"br-lr", "br-svm", "cc", "rf", "knn", "mlknn", "sk-mlp"}


@pytest.fixture(scope="module")
def tiny() -> tuple[np.ndarray, np.ndarray]:
    """300 rows, 8 features, 4 labels from a noisy linear rule (fast to make and to learn)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    Y = (X @ rng.normal(size=(8, 4)) + rng.normal(scale=0.5, size=(300, 4)) > 0.3)
    return X, Y.astype(np.uint8)


def _model(name: str, seed: int = 0):
    return make_baseline(name, seed=seed, **FAST.get(name, {}))


def test_registry_has_every_baseline() -> None:
    assert set(baseline_names()) == EXPECTED


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'svm'; valid names are: .*br-svm"):
        make_baseline("svm")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fit_predict_shapes_and_ranges(name: str, tiny) -> None:
    X, Y = tiny
    model = _model(name).fit(X[:240], Y[:240])
    scores, pred = model.predict_proba(X[240:]), model.predict(X[240:])
    assert scores.shape == pred.shape == (60, 4)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert set(np.unique(pred)) <= {0, 1}
    assert (pred == Y[240:]).mean() > 0.6


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_constant_labels_are_predicted_constant(name: str, tiny) -> None:
    X, Y = tiny
    Y = Y.copy()
    Y[:, 0], Y[:, 2] = 0, 1
    model = _model(name).fit(X, Y)
    pred, scores = model.predict(X), model.predict_proba(X)
    assert (pred[:, 0] == 0).all() and (pred[:, 2] == 1).all()
    assert (scores[:, 0] == 0).all() and (scores[:, 2] == 1).all()
    assert scores.shape == (len(X), 4)


@pytest.mark.parametrize("name", ["br-lr", "cc", "rf", "mlknn"])
def test_one_varying_label_and_all_constant(name: str, tiny) -> None:
    X, Y = tiny
    one = np.zeros_like(Y)
    one[:, 1] = Y[:, 1]
    assert _model(name).fit(X, one).predict_proba(X).shape == Y.shape
    none = np.zeros_like(Y)
    assert (_model(name).fit(X, none).predict(X) == 0).all()


def test_sparse_input_stays_sparse_and_is_maxabs_scaled(tiny) -> None:
    X, Y = tiny
    model = make_baseline("br-lr").fit(sp.csr_matrix(X), Y)
    assert type(model.scaler_).__name__ == "MaxAbsScaler"
    assert sp.issparse(model.scaler_.transform(sp.csr_matrix(X)))
    dense = make_baseline("br-lr").fit(X, Y)
    assert type(dense.scaler_).__name__ == "StandardScaler"
    assert make_baseline("rf").fit(X, Y).scaler_ is None


def test_svm_scores_are_the_sigmoid_of_the_margin(tiny) -> None:
    X, Y = tiny
    model = make_baseline("br-svm").fit(X, Y)
    margin = model.model_.decision_function(model.scaler_.transform(X))
    np.testing.assert_allclose(model.predict_proba(X), expit(margin))
    assert ((model.predict_proba(X) >= 0.5) == model.predict(X).astype(bool)).all()


def test_more_than_255_labels_stay_in_their_columns() -> None:
    # Regression: uint8 label matrices made scikit-learn's LabelBinarizer wrap label indices
    # past 255, so one-vs-rest scores landed in the wrong columns (delicious, 983 labels).
    Y = (np.random.default_rng(0).random((120, 300)) < 0.3).astype(np.uint8)
    model = make_baseline("br-svm").fit(Y.astype(np.float32), Y)
    np.testing.assert_array_equal(model.predict(Y.astype(np.float32)), Y)


def test_predict_before_fit_is_an_error() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        make_baseline("knn").predict(np.zeros((2, 3)))


def test_same_seed_same_scores(tiny) -> None:
    X, Y = tiny
    first = _model("rf", seed=3).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(first, _model("rf", seed=3).fit(X, Y).predict_proba(X))


# --------------------------------------------------------------------------- ML-kNN by hand
# Six points on a line, k=2, s=1. Neighbour counts of the training rows (self excluded):
# x=0 -> {1, 2}: c=1; x=1 -> {0, 2}: c=1; x=2 -> {1, 0}: c=2; x=10 -> {11, 12}: c=1;
# x=11 -> {10, 12}: c=1; x=12 -> {11, 10}: c=0.  Positives (rows 0, 1, 5) have c = 1, 1, 0;
# negatives (rows 2, 3, 4) have c = 2, 1, 1.  Prior = (1 + 3) / (2 + 6) = 0.5;
# P(c | H1) = (1 + [1, 2, 0]) / (3 + 3); P(c | H0) = (1 + [0, 2, 1]) / (3 + 3).
X_LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
Y_LINE = np.array([[1], [1], [0], [0], [0], [1]])


def test_mlknn_matches_the_hand_computation() -> None:
    model = MLkNN(k=2, s=1.0).fit(X_LINE, Y_LINE)
    np.testing.assert_allclose(model.prior_, [0.5])
    np.testing.assert_allclose(model.likelihood_pos_, [[2 / 6, 3 / 6, 1 / 6]])
    np.testing.assert_allclose(model.likelihood_neg_, [[1 / 6, 3 / 6, 2 / 6]])
    # x=0.4 -> neighbours 0, 1 (c=2); x=10.4 -> 10, 11 (c=0); x=11.6 -> 12, 11 (c=1)
    proba = model.predict_proba(np.array([[0.4], [10.4], [11.6]]))
    np.testing.assert_allclose(proba[:, 0], [1 / 3, 2 / 3, 1 / 2])
    np.testing.assert_array_equal(model.predict(np.array([[0.4], [10.4]]))[:, 0], [0, 1])


def test_mlknn_caps_k_and_rejects_bad_settings() -> None:
    assert MLkNN(k=50).fit(X_LINE, Y_LINE).k_ == 5
    with pytest.raises(ConfigError, match="k >= 1"):
        MLkNN(k=0).fit(X_LINE, Y_LINE)
