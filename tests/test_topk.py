"""Chunked precision@k / nDCG@k: equal to a full sort and to scikit-learn, whatever the chunking."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from multitag.exceptions import ConfigError, DataFormatError
from multitag.metrics.kernels import label_auc, pooled_auc_and_ap, row_rankings, set_metrics
from multitag.metrics.topk import TopKAccumulator, top_k_indices, top_k_metrics


def _case(seed: int, n: int = 300, n_labels: int = 40):
    rng = np.random.default_rng(seed)
    S = rng.random((n, n_labels))
    Y = (rng.random((n, n_labels)) < 0.02 + 0.1 * S).astype(np.uint8)
    Y[:5] = 0  # rows without a true label
    return Y, S


def _brute_precision(Y: np.ndarray, S: np.ndarray, k: int) -> float:
    top = np.argsort(-S, axis=1)[:, :k]
    return float(np.take_along_axis(Y, top, axis=1).sum(axis=1).mean() / k)


@pytest.mark.parametrize("chunk_rows", [1, 7, 128, 10_000])
def test_chunked_equals_full_sort_and_sklearn(chunk_rows: int) -> None:
    Y, S = _case(0)
    got = top_k_metrics(Y, S, ks=(1, 3, 5), ndcg_ks=(3, 5), chunk_rows=chunk_rows)
    for k in (1, 3, 5):
        assert got[f"precision_at_{k}"] == pytest.approx(_brute_precision(Y, S, k))
    labelled = Y.any(axis=1)
    for k in (3, 5):
        assert got[f"ndcg_at_{k}"] == pytest.approx(ndcg_score(Y[labelled], S[labelled], k=k))


def test_sparse_labels_and_callable_or_iterable_scores_agree() -> None:
    Y, S = _case(1)
    dense = top_k_metrics(Y, S)
    calls: list[tuple[int, int]] = []

    def predict(start: int, stop: int) -> np.ndarray:
        calls.append((start, stop))
        return S[start:stop]

    as_float = sp.csr_matrix(Y, dtype=np.float32)  # labels as the trainer keeps them
    assert top_k_metrics(as_float, predict, chunk_rows=100) == pytest.approx(dense)
    assert calls == [(0, 100), (100, 200), (200, 300)]  # never all rows at once
    chunks = (S[a:a + 64] for a in range(0, len(S), 64))
    assert top_k_metrics(sp.csr_matrix(Y), chunks) == pytest.approx(dense)


def test_top_k_indices_best_first() -> None:
    S = np.array([[0.1, 0.9, 0.5, 0.7]])
    assert top_k_indices(S, 3).tolist() == [[1, 3, 2]]


def test_bad_chunks_and_k() -> None:
    Y, S = _case(2, n=20, n_labels=4)
    with pytest.raises(DataFormatError, match="cover 10 rows"):
        top_k_metrics(Y, iter([S[:10]]), ks=(1, 3), ndcg_ks=(3,))
    with pytest.raises(ConfigError, match="number of labels"):
        top_k_metrics(Y, S, ks=(5,), ndcg_ks=())
    with pytest.raises(ConfigError, match="integer >= 1"):
        TopKAccumulator(ks=(0,), ndcg_ks=())


@pytest.mark.parametrize("decimals", [None, 1])
def test_kernels_equal_scikit_learn_on_many_labels(decimals: int | None) -> None:
    from sklearn import metrics as skm

    Y, S = _case(3, n=200, n_labels=300)
    S = S if decimals is None else np.round(S, decimals)
    P = (S > 0.8).astype(np.uint8)
    ranks = row_rankings(Y, S, chunk=33)
    assert ranks["lrap"] == pytest.approx(skm.label_ranking_average_precision_score(Y, S))
    assert ranks["ranking_loss"] == pytest.approx(skm.label_ranking_loss(Y, S))
    assert ranks["coverage_error"] == pytest.approx(skm.coverage_error(Y, S))
    auc, ap = pooled_auc_and_ap(Y, S)
    assert auc == pytest.approx(skm.roc_auc_score(Y, S, average="micro"))
    assert ap == pytest.approx(skm.average_precision_score(Y, S, average="micro"))
    both = Y.any(axis=0) & ~Y.all(axis=0)
    np.testing.assert_allclose(label_auc(Y, S)[both],
                               skm.roc_auc_score(Y[:, both], S[:, both], average=None))
    present = Y.any(axis=0)
    sets = set_metrics(Y, P, present)
    assert sets["samples_f1"] == pytest.approx(
        skm.f1_score(Y, P, average="samples", zero_division=0))
    assert sets["macro_f1"] == pytest.approx(skm.f1_score(
        Y, P, average="macro", labels=np.flatnonzero(present), zero_division=0))
    assert sets["jaccard_samples"] == pytest.approx(
        skm.jaccard_score(Y, P, average="samples", zero_division=0))
