"""Splits: random, iterative stratification, k-fold, validation; summaries and split reports."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from multitag.data import (
    Dataset,
    iterative_stratification,
    kfold,
    split,
    split_report,
    summarize,
    train_test_split,
    validation_split,
)
from multitag.data.split_plan import SplitPlan, plan_parts
from multitag.data.splits import random_assignment
from multitag.exceptions import ConfigError


def _skewed(n: int = 2000, n_labels: int = 20, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    freq = np.geomspace(0.4, 2.5 / n, n_labels)
    Y = (rng.random((n, n_labels)) < freq).astype(np.uint8)
    X = rng.normal(size=(n, 3))
    return Dataset(X=X, Y=Y, feature_names=["a", "b", "c"],
                   label_names=[f"l{i}" for i in range(n_labels)], name="skewed")


@pytest.mark.parametrize("method", ["stratified", "random"])
def test_parts_are_disjoint_cover_all_rows_and_repeat_with_the_seed(method: str) -> None:
    data = _skewed()
    sizes = {"train": 0.7, "validation": 0.1, "test": 0.2}
    a = split(data, sizes, method=method, seed=3)
    b = split(data, sizes, method=method, seed=3)
    c = split(data, sizes, method=method, seed=4)
    rows = np.concatenate(list(a.parts.values()))
    assert len(rows) == data.n_samples and len(np.unique(rows)) == data.n_samples
    for name in sizes:
        np.testing.assert_array_equal(a.parts[name], b.parts[name])
        assert abs(len(a.parts[name]) / data.n_samples - sizes[name]) < 0.02
    assert any(not np.array_equal(a.parts[n], c.parts[n]) for n in sizes)


def test_stratification_spreads_every_label_like_the_fractions() -> None:
    data = _skewed(n=5000)
    part = iterative_stratification(data.Y, [0.8, 0.2], seed=0)
    Y = data.Y
    counts = np.stack([Y[part == k].sum(axis=0) for k in (0, 1)], axis=1)
    common = counts.sum(axis=1) >= 50
    share = counts[common, 1] / counts[common].sum(axis=1)
    assert np.all(np.abs(share - 0.2) < 0.03)
    random_part = random_assignment(len(Y), [0.8, 0.2], seed=0)
    random_counts = np.stack([Y[random_part == k].sum(axis=0) for k in (0, 1)], axis=1)
    random_share = random_counts[common, 1] / random_counts[common].sum(axis=1)
    assert np.abs(share - 0.2).mean() < np.abs(random_share - 0.2).mean()


def test_rare_labels_reach_both_sides_when_possible() -> None:
    Y = np.zeros((100, 3), dtype=np.uint8)
    Y[[3, 50], 0] = 1  # two examples of label 0
    Y[[5, 6, 7], 1] = 1
    Y[::2, 2] = 1
    part = iterative_stratification(Y, [0.9, 0.1], seed=0)
    for label in (0, 1):
        assert set(part[Y[:, label] == 1]) == {0, 1}


def test_stratification_accepts_sparse_labels_and_is_fast() -> None:
    rng = np.random.default_rng(1)
    Y = sp.random(20_000, 50, density=0.05, format="csr", random_state=1)
    Y.data[:] = 1
    start = time.perf_counter()
    part = iterative_stratification(Y, [0.5, 0.3, 0.2], seed=int(rng.integers(10)))
    assert time.perf_counter() - start < 5
    assert np.bincount(part).tolist() == pytest.approx([10_000, 6_000, 4_000], rel=0.02)


def test_kfold_every_row_tested_once() -> None:
    data = _skewed(n=600)
    folds = kfold(data, 5, seed=1)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(600))
    for train, test in folds:
        assert not set(train) & set(test) and len(train) + len(test) == 600


def test_train_test_and_validation_split_return_named_datasets() -> None:
    data = _skewed(n=500)
    train, test = train_test_split(data, 0.2, seed=0)
    train2, valid = validation_split(train, 0.25, seed=0)
    assert train.name == "skewed-train" and test.name == "skewed-test"
    assert valid.name == "skewed-train-validation"
    assert train2.n_samples + valid.n_samples == train.n_samples
    assert abs(valid.n_samples - 100) <= 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: split(d, {"a": 0.5, "b": 0.4}), "add up to 1"),
        (lambda d: split(d, {"a": 1.0, "b": 0.0}), "positive fractions"),
        (lambda d: train_test_split(d, 1.5), r"`test_size` must be a fraction in \(0, 1\)"),
        (lambda d: kfold(d, 1), r"`k` must be an integer >= 2"),
        (lambda d: split(d, {"a": 0.5, "b": 0.5}, method="magic"), "`method` must be one of"),
    ],
)
def test_bad_split_arguments(call: Callable[[Dataset], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call(_skewed(n=50))


def test_summary_statistics() -> None:
    Y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 1, 0]], dtype=np.uint8)
    X = sp.csr_matrix(np.array([[1, 0], [0, 0], [2, 3], [0, 0]], dtype=np.float32))
    data = Dataset(X=X, Y=Y, feature_names=["f0", "f1"], label_names=["a", "b", "c"], name="s")
    s = summarize(data, top=2)
    assert (s.n_samples, s.n_features, s.n_labels, s.sparse) == (4, 2, 3, True)
    assert s.feature_density == pytest.approx(3 / 8)
    assert s.label_cardinality == pytest.approx(5 / 4)
    assert s.label_density == pytest.approx(5 / 12)
    assert s.distinct_label_sets == 3 and s.rows_without_labels == 1
    assert s.labels_never_present == 1
    assert s.rarest == [("c", 0), ("b", 2)] and s.most_frequent[0] == ("a", 3)
    sparse_y = summarize(Dataset(X=X, Y=sp.csr_matrix(Y), feature_names=["f0", "f1"],
                                 label_names=["a", "b", "c"]))
    assert sparse_y.distinct_label_sets == 3
    assert set(s.to_dict()) >= {"n_samples", "rarest", "label_cardinality"}


def test_split_report_counts_and_flags_labels_absent_from_a_part() -> None:
    data = _skewed(n=400, n_labels=6)
    parts = split(data, {"train": 0.8, "test": 0.2}, seed=0).apply(data)
    report = split_report(parts, method="stratified")
    assert report.parts == ["train", "test"] and sum(report.sizes) == 400
    np.testing.assert_array_equal(report.counts.sum(axis=1), data.Y.sum(axis=0))
    only_train = {"train": data, "test": data.subset([0])}
    assert split_report(only_train).labels_missing_somewhere
    assert "labels" in report.to_dict()


def test_split_plan_parts() -> None:
    data = _skewed(n=300)
    parts = plan_parts(data, SplitPlan(test_size=0.2, valid_size=0.1, seed=0))
    assert list(parts) == ["train", "validation", "test"]
    assert sum(p.n_samples for p in parts.values()) == 300
    folds = plan_parts(data, SplitPlan(folds=3))
    assert list(folds) == ["fold1", "fold2", "fold3"]
    with pytest.raises(ConfigError, match="`folds` must be 0"):
        plan_parts(data, SplitPlan(folds=1))
