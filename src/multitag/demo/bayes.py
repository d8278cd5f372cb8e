"""Bayes-optimal predictions for data drawn by scikit-learn's `make_multilabel_classification`.

The generator draws a label-set size k ~ Poisson(n_labels), rejected while k > n_classes (and
while k == 0 if unlabeled rows are not allowed); then classes i.i.d. from `p_c` until the set has k
distinct members; then a document of n_words ~ Poisson(length) words, each drawn from the average
of the chosen classes' word distributions (uniform when the set is empty). Given a row of word
counts x, the posterior over label sets is therefore

    P(S | x) ∝ P(S) * prod_f p_w(S)_f ** x_f

(the document length does not depend on S and cancels). Every label set is enumerated, so this is
exact for up to `MAX_CLASSES` classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

MAX_CLASSES = 12


@dataclass(frozen=True)
class BayesPosterior:
    """Posterior over every label set for each row, and what follows from it."""

    label_sets: np.ndarray  # (n_sets, n_classes) 0/1
    log_posterior: np.ndarray  # (n_samples, n_sets)

    def marginals(self) -> np.ndarray:
        """P(label c = 1 | x) for every row and label."""
        return np.exp(self.log_posterior) @ self.label_sets

    def best_labelwise(self) -> np.ndarray:
        """Predictions that maximise expected label accuracy (marginal > 0.5)."""
        return (self.marginals() > 0.5).astype(np.uint8)

    def best_subset(self) -> np.ndarray:
        """Predictions that maximise expected subset accuracy (most probable label set)."""
        return self.label_sets[self.log_posterior.argmax(axis=1)]


def all_label_sets(n_classes: int) -> np.ndarray:
    """Every subset of `n_classes` classes as 0/1 rows; row i is the bit pattern of i."""
    codes = np.arange(2**n_classes)
    return ((codes[:, None] >> np.arange(n_classes)) & 1).astype(np.uint8)


def label_set_prior(
    p_c: np.ndarray, n_labels: float, allow_unlabeled: bool = True
) -> np.ndarray:
    """P(S) for every label set S in `all_label_sets` order, following the generator exactly."""
    n_classes = len(p_c)
    if n_classes > MAX_CLASSES:
        raise ValueError(f"exact prior needs at most {MAX_CLASSES} classes; got {n_classes}")
    sizes = np.arange(n_classes + 1)
    size_weight = np.array([_poisson_pmf(k, n_labels) for k in sizes])
    if not allow_unlabeled:
        size_weight[0] = 0.0
    size_prob = size_weight / size_weight.sum()
    first_distinct = _first_distinct_set_probability(np.asarray(p_c, dtype=np.float64))
    popcount = all_label_sets(n_classes).sum(axis=1)
    return size_prob[popcount] * first_distinct


def _poisson_pmf(k: int, rate: float) -> float:
    """P(K = k) for K ~ Poisson(rate), in closed form."""
    return math.exp(k * math.log(rate) - rate - math.lgamma(k + 1))


def _first_distinct_set_probability(p_c: np.ndarray) -> np.ndarray:
    """P(the first |S| distinct classes drawn i.i.d. from p_c are exactly S), for every S.

    The order in which new classes appear is sampling without replacement proportional to p_c,
    so f(S) = sum over s in S of f(S - {s}) * p_s / (1 - p(S - {s})), computed over subsets.
    """
    n_sets = 2 ** len(p_c)
    mass = all_label_sets(len(p_c)) @ p_c
    prob = np.zeros(n_sets)
    prob[0] = 1.0
    for code in range(1, n_sets):
        total = 0.0
        for c in np.flatnonzero((code >> np.arange(len(p_c))) & 1):
            rest = code & ~(1 << int(c))
            remaining = 1.0 - mass[rest]
            if remaining > 0:
                total += prob[rest] * p_c[c] / remaining
        prob[code] = total
    return prob


def posterior(
    X: np.ndarray, p_c: np.ndarray, p_w_c: np.ndarray, n_labels: float,
    allow_unlabeled: bool = True,
) -> BayesPosterior:
    """Exact posterior over label sets for rows of word counts `X` (n_samples, n_features)."""
    n_features, n_classes = p_w_c.shape
    sets = all_label_sets(n_classes)
    prior = label_set_prior(p_c, n_labels, allow_unlabeled)
    sizes = sets.sum(axis=1, keepdims=True).astype(np.float64)
    word_prob = np.where(sizes > 0, (sets @ p_w_c.T) / np.maximum(sizes, 1), 1.0 / n_features)
    with np.errstate(divide="ignore"):
        log_joint = np.asarray(X, dtype=np.float64) @ np.log(word_prob).T + np.log(prior)
    log_post = log_joint - logsumexp(log_joint, axis=1, keepdims=True)
    return BayesPosterior(label_sets=sets, log_posterior=log_post)
