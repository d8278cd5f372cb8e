"""Where training batches come from: rows held in memory (`TensorData`) or chunks of a file read
again every epoch (`StreamBatches`). The Trainer asks a source for `batches(size, generator,
shuffle)`; `n_rows`, `n_labels`, `Y` and `dense_batches` describe it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from multitag.data.chunks import ChunkedFile
from multitag.data.dataset import Dataset
from multitag.models.mlp import csr_to_torch

# Sparse inputs up to this many columns are densified one batch at a time (never the dataset):
# a dense batch is faster than a sparse product at this width and allows the fast path.
DENSE_BATCH_MAX_FEATURES = 20_000
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


class TensorData:
    """Training or validation rows as torch tensors (dense) or scipy CSR matrices (sparse).

    With sparse features, sparse labels stay sparse too and are densified one batch at a time
    (200,000 rows x 5,000 labels would be 4 GB dense)."""

    def __init__(self, X: Any, Y: Any) -> None:
        self.sparse = sp.issparse(X)
        self.X = sp.csr_matrix(X, dtype=np.float32) if self.sparse else dense_tensor(X)
        self.dense_batches = not self.sparse or X.shape[1] <= DENSE_BATCH_MAX_FEATURES
        keep_sparse = self.sparse and sp.issparse(Y)
        self.Y = sp.csr_matrix(Y, dtype=np.float32) if keep_sparse else dense_tensor(
            Y.toarray() if sp.issparse(Y) else Y)
        self.n_rows, self.n_labels = self.Y.shape

    def batches(
        self, size: int, generator: torch.Generator | None, shuffle: bool
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(self.n_rows, generator=generator) if shuffle else None
        if not self.sparse:
            X, Y = (self.X, self.Y) if order is None else (self.X[order], self.Y[order])
            yield from zip(X.split(size), Y.split(size))
            return
        rows = np.arange(self.n_rows) if order is None else order.numpy()
        for start in range(0, self.n_rows, size):
            yield self.rows(rows[start:start + size])

    def rows(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of rows `index` (features as the layer wants them, labels dense)."""
        if not self.sparse:
            tindex = torch.from_numpy(index)
            return self.X[tindex], self.Y[tindex]
        rows_x = self.X[index]
        x = dense_tensor(rows_x.toarray()) if self.dense_batches else csr_to_torch(rows_x)
        y = (dense_tensor(self.Y[index].toarray()) if sp.issparse(self.Y)
             else self.Y[torch.from_numpy(index)])
        return x, y



def labels_numpy(Y: Any) -> np.ndarray:
    """Labels of a `TensorData` (tensor or, with sparse features, CSR) as a dense array."""
    return Y.toarray() if sp.issparse(Y) else Y.numpy()


def dense_tensor(values: Any) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def row_hash(rows: np.ndarray, seed: int) -> np.ndarray:
    """A well-mixed 64-bit hash of each row position (splitmix64), the same in every pass."""
    with np.errstate(over="ignore"):
        z = rows.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


class StreamBatches:
    """Training batches read from the file each epoch: chunks in a seeded shuffled order,
    validation rows left out, rows shuffled within each chunk (the Trainer's data source)."""

    def __init__(self, chunks: ChunkedFile, preprocessor: Any, seed: int,
                 valid_cut: np.uint64 | None, n_rows: int, n_labels: int) -> None:
        self.chunks = chunks
        self.preprocessor = preprocessor
        self.seed = seed
        self.valid_cut = valid_cut
        self.n_rows, self.n_labels = n_rows, n_labels
        # The Trainer builds its loss from `Y`; streamed, only the label count is known here
        # (an 'auto' pos_weight was already turned into numbers from the first pass's counts).
        self.Y = np.zeros((0, n_labels), dtype=np.float32)
        self.dense_batches = (not preprocessor.sparse_input_
                              or preprocessor.n_features_out_ <= DENSE_BATCH_MAX_FEATURES)

    def batches(self, size: int, generator: torch.Generator | None,
                shuffle: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if shuffle and generator is not None:
            rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
            order = self.chunks.chunk_order(rng)
        else:
            order = list(range(len(self.chunks.pieces or [])))
        for start, chunk in self.chunks.chunks(order):
            chunk = self._training_rows(start, chunk)
            if chunk is None:
                continue
            data = TensorData(self.preprocessor.transform(chunk), chunk.Y_dense())
            yield from data.batches(size, generator, shuffle)

    def _training_rows(self, start: int, chunk: Dataset) -> Dataset | None:
        if self.valid_cut is None:
            return chunk
        hashes = row_hash(np.arange(start, start + chunk.n_samples), self.seed)
        keep = np.flatnonzero(hashes > self.valid_cut)
        if keep.size == chunk.n_samples:
            return chunk
        return chunk.subset(keep) if keep.size else None
