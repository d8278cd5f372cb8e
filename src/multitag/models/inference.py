"""Probabilities from a trained network, in float64 and in bounded-memory chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.func import functional_call

CHUNK_ROWS = 8192


def predict_scores(module: nn.Module, X: Any, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Sigmoid outputs (n_samples, n_labels) for dense or CSR `X`, already preprocessed.

    Runs in float64 so a row's result does not depend on its position in the batch (float32
    matrix kernels round differently by position, by ~1e-7).
    """
    module.eval()
    params = {k: v.double() for k, v in module.state_dict().items()}
    n_out = params[next(k for k in reversed(params) if k.endswith("weight"))].shape[0]
    parts = [np.zeros((0, n_out))]
    with torch.inference_mode():
        for batch in _batches(X, chunk_rows):
            parts.append(torch.sigmoid(functional_call(module, params, (batch,))).numpy())
    return np.concatenate(parts)


def _batches(X: Any, chunk_rows: int) -> Iterator[torch.Tensor]:
    from multitag.training.trainer import csr_to_torch

    for start in range(0, X.shape[0], chunk_rows):
        chunk = X[start:start + chunk_rows]
        if sp.issparse(chunk):
            yield csr_to_torch(sp.csr_matrix(chunk), torch.float64)
        else:
            yield torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float64))
