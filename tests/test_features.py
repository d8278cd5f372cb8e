"""Preprocessor: fitted on training data only; state round-trips through JSON + arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from multitag.data import Dataset
from multitag.exceptions import ConfigError, DataFormatError, ModelFileError, NotFittedError
from multitag.features.preprocessor import Preprocessor


def _dense(X: np.ndarray, *, missing: bool = False, name: str = "d") -> Dataset:
    Y = np.zeros((len(X), 1), dtype=np.uint8)
    names = [f"x{i}" for i in range(X.shape[1])]
    return Dataset(X=X, Y=Y, feature_names=names, label_names=["y"], has_missing=missing,
                   name=name)


def _round_trip(pre: Preprocessor) -> Preprocessor:
    state, arrays = pre.to_state()
    text = json.dumps(state, allow_nan=False)
    return Preprocessor.from_state(json.loads(text), {k: v.copy() for k, v in arrays.items()})


def test_standardises_dense_with_training_statistics_only() -> None:
    rng = np.random.default_rng(0)
    train = _dense(rng.normal(5, 3, size=(200, 4)))
    test = _dense(rng.normal(5, 3, size=(50, 4)))
    pre = Preprocessor().fit(train)
    Xt = pre.transform(train)
    assert Xt.dtype == np.float32 and isinstance(Xt, np.ndarray)
    np.testing.assert_allclose(Xt.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Xt.std(axis=0), 1, atol=1e-4)
    expected = (test.X - train.X.mean(axis=0)) / train.X.std(axis=0)
    np.testing.assert_allclose(pre.transform(test), expected, rtol=1e-4, atol=1e-4)


def test_constant_column_is_not_divided_by_zero() -> None:
    X = np.column_stack([np.ones(10), np.arange(10.0)])
    out = Preprocessor().fit_transform(_dense(X))
    assert np.isfinite(out).all() and np.all(out[:, 0] == 0)


@pytest.mark.parametrize(("how", "fill"), [("median", 2.0), ("mean", 7 / 3)])
def test_imputes_missing_values_with_a_notice(how: str, fill: float) -> None:
    X = np.array([[1.0, 0], [2.0, 1], [np.nan, 0], [4.0, 1]])
    pre = Preprocessor(scale="none", impute=how).fit(_dense(X, missing=True))
    assert pre.transform(_dense(X, missing=True))[2, 0] == pytest.approx(fill)
    assert pre.notices_ and how in pre.notices_[0]


def test_missing_values_without_imputation_are_an_error() -> None:
    X = np.array([[1.0], [np.nan]])
    with pytest.raises(DataFormatError, match=r"feature 'x0' has missing values .* imputation"):
        Preprocessor(impute="none").fit(_dense(X, missing=True, name="m"))
    fitted = Preprocessor(impute="none").fit(_dense(np.array([[1.0], [2.0]])))
    with pytest.raises(DataFormatError, match="missing values"):
        fitted.transform(_dense(X, missing=True))


def _sparse_data(seed: int = 0, nan: bool = False) -> Dataset:
    X = sp.random(40, 6, density=0.3, format="csr", random_state=seed) * 10
    if nan:
        X.data[0] = np.nan
    return Dataset(X=X, Y=np.zeros((40, 1)), feature_names=[f"w{i}" for i in range(6)],
                   label_names=["y"], has_missing=nan)


@pytest.mark.parametrize("scale", ["auto", "maxabs", "standard", "tfidf", "none"])
def test_sparse_stays_sparse_and_round_trips(scale: str) -> None:
    train, test = _sparse_data(0, nan=True), _sparse_data(1)
    pre = Preprocessor(scale=scale).fit(train)
    out = pre.transform(test)
    assert sp.issparse(out) and out.dtype == np.float32 and out.shape == (40, 6)
    if scale in ("auto", "maxabs", "standard"):
        assert abs(pre.transform(train)).max() <= 1 + 1e-6
    if scale == "tfidf":
        norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
        assert np.allclose(norms[norms > 0], 1, atol=1e-5)
    assert (_round_trip(pre).transform(test) != out).nnz == 0


def test_text_tfidf_with_numeric_columns_round_trips() -> None:
    texts = ["the cat sat", "the dog ran fast", "a cat and a dog", "fast cars"]
    train = Dataset(X=np.arange(8.0).reshape(4, 2), Y=np.zeros((4, 1)), feature_names=["a", "b"],
                    label_names=["y"], texts=texts)
    test = Dataset(X=np.ones((2, 2)), Y=np.zeros((2, 1)), feature_names=["a", "b"],
                   label_names=["y"], texts=["cat cat dog", "unknown words only"])
    pre = Preprocessor().fit(train)
    out = pre.transform(test)
    assert sp.issparse(out) and out.shape[1] == 2 + len(pre.text_.vocabulary_)
    assert pre.n_features_out_ == out.shape[1]
    again = _round_trip(pre).transform(test)
    np.testing.assert_allclose(again.toarray(), out.toarray(), rtol=1e-6)
    with pytest.raises(DataFormatError, match="no text"):
        pre.transform(Dataset(X=np.ones((1, 2)), Y=np.zeros((1, 1)), feature_names=["a", "b"],
                              label_names=["y"]))


def test_text_only_dataset() -> None:
    data = Dataset(X=np.zeros((3, 0)), Y=np.zeros((3, 1)), feature_names=[], label_names=["y"],
                   texts=["alpha beta", "beta gamma", "gamma delta"])
    out = Preprocessor().fit_transform(data)
    assert sp.issparse(out) and out.shape == (3, 4)


def test_columns_are_aligned_by_name() -> None:
    train = _dense(np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]))
    train = Dataset(X=train.X, Y=train.Y, feature_names=["a", "b", "c=x"], label_names=["y"])
    pre = Preprocessor(scale="none").fit(train)
    shuffled = Dataset(X=np.array([[9.0, 8.0, 7.0]]), Y=np.zeros((1, 1)),
                       feature_names=["extra", "b", "a"], label_names=["y"])
    out, notices = pre.transform_with_notices(shuffled)
    np.testing.assert_array_equal(out, [[7.0, 8.0, 0.0]])  # one-hot 'c=x' absent -> 0
    assert len(notices) == 2
    missing_numeric = Dataset(X=np.ones((1, 1)), Y=np.zeros((1, 1)), feature_names=["a"],
                              label_names=["y"], name="new")
    with pytest.raises(DataFormatError, match="lacks feature"):
        pre.transform(missing_numeric)


def test_errors_before_fit_bad_params_and_bad_state() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        Preprocessor().transform(_dense(np.ones((2, 2))))
    with pytest.raises(ConfigError, match="`scale` must be one of"):
        Preprocessor(scale="zscore").fit(_dense(np.ones((2, 2))))
    with pytest.raises(ConfigError, match="needs sparse"):
        Preprocessor(scale="tfidf").fit(_dense(np.ones((2, 2))))
    state, arrays = Preprocessor().fit(_dense(np.ones((3, 2)))).to_state()
    with pytest.raises(ModelFileError, match="not a preprocessor state"):
        Preprocessor.from_state({"format": "other"}, arrays)
    with pytest.raises(ModelFileError, match="expected \\(2,\\)"):
        Preprocessor.from_state(state, {**arrays, "scale": np.ones(5)})
    with pytest.raises(ModelFileError, match="version"):
        Preprocessor.from_state({**state, "version": 99}, arrays)


def test_from_state_checks_every_field_before_building() -> None:
    """A state read from an untrusted model directory: only checked values reach a
    constructor; each problem names the field."""
    state, arrays = Preprocessor().fit(_dense(np.ones((3, 2)))).to_state()
    cases = [
        ({**state, "params": {**state["params"], "text_input": "filename"}},
         r"params\.text_input: unknown key"),
        ({**state, "params": {**state["params"], "scale": ["standard"]}},
         r"params\.scale: must be one of"),
        ({**state, "params": {**state["params"], "text_ngram_range": [1, 50]}},
         r"params\.text_ngram_range: must be \[min, max\] with 1 <= min <= max <= 3"),
        ({**state, "params": {**state["params"], "text_max_df": float("inf")}},
         r"params\.text_max_df: must be a number > 0"),
        ({**state, "mode": "maxabs"}, "mode: 'maxabs' does not follow from params.scale"),
        ({**state, "feature_names": [1, 2]}, "feature_names: must be a list of strings"),
        ({**state, "sparse_input": "no"}, "sparse_input must be true or false"),
        ({**state, "extra": 1}, "extra: unknown key"),
        ({**state, "version": True}, "version True"),
    ]
    for bad, match in cases:
        with pytest.raises(ModelFileError, match=match):
            Preprocessor.from_state(bad, arrays)


def test_text_state_is_rebuilt_from_an_allow_list() -> None:
    data = Dataset(X=np.zeros((3, 0)), Y=np.zeros((3, 1), dtype=np.uint8), feature_names=[],
                   label_names=["y"], texts=["the cat sat", "a dog ran", "cat and dog"])
    state, arrays = Preprocessor().fit(data).to_state()
    for key, value in [("input", "filename"), ("token_pattern", "(a|aa)+$"),
                       ("analyzer", "char_wb"), ("preprocessor", "os.system")]:
        bad = {**state, "text": {**state["text"],
                                 "params": {**state["text"]["params"], key: value}}}
        with pytest.raises(ModelFileError, match=rf"text\.params\.{key}: not an allowed text "
                                                 "parameter"):
            Preprocessor.from_state(bad, arrays)
    loaded = Preprocessor.from_state(state, arrays)
    assert loaded.text_.input == "content" and loaded.text_.get_params()["tokenizer"] is None
    np.testing.assert_array_equal(loaded.transform(data).toarray(),
                                  Preprocessor().fit(data).transform(data).toarray())
