"""Probabilities from a trained network, in float64 and in bounded-memory chunks."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from multitag.models.ensemble import Ensemble
from multitag.models.mlp import MLP, MLPParameters, csr_to_torch, mlp_logits

CHUNK_ROWS = 8192


def predict_scores(module: MLP, X: Any, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Sigmoid outputs (n_samples, n_labels) for dense or CSR `X`, already preprocessed.

    Runs in float64 so a row's result does not depend on its position in the batch (float32
    matrix kernels round differently by position, by ~1e-7). Never changes `module`, so many
    threads may predict with one model at once.
    """
    if isinstance(module, Ensemble):
        weights = module.weights.double().numpy()
        weights = weights / weights.sum(axis=0)  # exactly 1 in float64 (stored as float32)
        mixed = sum(w * predict_scores(m, X, chunk_rows)
                    for w, m in zip(weights, module.members))
        return np.clip(mixed, 0.0, 1.0)
    logits = predict_logits(module, X, chunk_rows)
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def predict_logits(module: MLP, X: Any, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """The logits (n_samples, n_labels) of one network, in float64."""
    params = _float64_parameters(module)
    parts = [np.zeros((0, params.biases[-1].shape[0]))]
    with torch.inference_mode():
        for batch in _batches(X, chunk_rows):
            parts.append(mlp_logits(params, batch).numpy())
    return np.concatenate(parts)


_FLOAT64_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _float64_parameters(module: MLP) -> MLPParameters:
    """float64 copies of the weights, cached until a parameter changes (tensor versions)."""
    live = module.parameter_lists()
    signature = tuple((t.data_ptr(), t._version) for t in module.parameters())
    cached = _FLOAT64_CACHE.get(module)
    if cached is not None and cached[0] == signature:
        return cached[1]
    with torch.no_grad():
        params = MLPParameters(
            weights=[w.detach().double() for w in live.weights],
            biases=[b.detach().double() for b in live.biases],
            skip=None if live.skip is None else live.skip.detach().double(),
        )
    _FLOAT64_CACHE[module] = (signature, params)
    return params


def _batches(X: Any, chunk_rows: int) -> Iterator[torch.Tensor]:
    for start in range(0, X.shape[0], chunk_rows):
        chunk = X[start:start + chunk_rows]
        if sp.issparse(chunk):
            yield csr_to_torch(sp.csr_matrix(chunk), torch.float64)
        else:
            yield torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float64))
