"""The exact Bayes-optimal reference for make_multilabel_classification data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification

from multitag.demo.bayes import all_label_sets, label_set_prior, posterior


def _codes(Y: np.ndarray) -> np.ndarray:
    return (Y * (1 << np.arange(Y.shape[1]))).sum(axis=1)


@pytest.mark.slow
@pytest.mark.parametrize(("n_classes", "n_labels", "allow_unlabeled"),
                         [(3, 2, True), (5, 3, False), (4, 1, True)])
def test_prior_matches_a_large_simulation(n_classes: int, n_labels: int,
                                          allow_unlabeled: bool) -> None:
    n = 40_000
    _, Y, p_c, _ = make_multilabel_classification(
        n_samples=n, n_features=3, n_classes=n_classes, n_labels=n_labels, length=2,
        allow_unlabeled=allow_unlabeled, return_distributions=True, random_state=5)
    prior = label_set_prior(p_c, n_labels, allow_unlabeled)
    observed = np.bincount(_codes(Y), minlength=2**n_classes) / n
    stderr = np.sqrt(prior * (1 - prior) / n) + 1e-9
    assert prior.sum() == pytest.approx(1.0)
    assert np.all(np.abs(observed - prior) < 5 * stderr + 1e-4)


def test_label_sets_enumerate_every_subset() -> None:
    sets = all_label_sets(3)
    assert sets.shape == (8, 3)
    assert len({tuple(s) for s in sets}) == 8


def test_posterior_is_a_distribution_and_beats_chance() -> None:
    X, Y, p_c, p_w_c = make_multilabel_classification(
        n_samples=2000, n_features=6, n_classes=3, n_labels=2, return_distributions=True,
        random_state=0)
    post = posterior(X, p_c, p_w_c, 2)
    assert np.allclose(np.exp(post.log_posterior).sum(axis=1), 1.0)
    marginals = post.marginals()
    assert marginals.min() >= 0 and marginals.max() <= 1
    labelwise = (post.best_labelwise() == Y).mean()
    subset = (post.best_subset() == Y).all(axis=1).mean()
    assert labelwise > ((Y.mean(axis=0) > 0.5) == Y).mean()
    # each rule is best for its own objective, on average over this many rows
    assert labelwise >= (post.best_subset() == Y).mean() - 0.01
    assert subset >= (post.best_labelwise() == Y).all(axis=1).mean() - 0.01


def test_published_reference_figures_on_the_classic_split() -> None:
    from multitag.data.synthetic import SyntheticSpec, make_synthetic
    from multitag.demo.classic import split_like_sklearn

    data, dist = make_synthetic(SyntheticSpec())
    _, test = split_like_sklearn(data.n_samples, 0.33, 42)
    post = posterior(data.X[test], dist.p_c, dist.p_w_c, 2)
    Y = data.Y[test]
    assert (post.best_labelwise() == Y).mean() == pytest.approx(0.8659, abs=5e-5)
    assert (post.best_subset() == Y).all(axis=1).mean() == pytest.approx(0.769, abs=5e-4)
