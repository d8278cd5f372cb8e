"""The network: Dense/ReLU hidden layers and one logit per label (sigmoid applied at the output)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

# Above this many input features the first layer is stored column-major for sparse input
# (equal to trainer.DENSE_BATCH_MAX_FEATURES: narrower sparse batches are densified).
WIDE_INPUT = 20_000


class MLP(nn.Module):
    """Feed-forward multi-label network returning logits of shape (batch, n_labels).

    Sparse input (a torch sparse CSR/COO batch) is multiplied directly by the first layer. With
    more than `WIDE_INPUT` features the first weight is stored column-major (each feature's
    weights contiguous, same values and shape), so a sparse batch gathers whole rows with
    `embedding_bag` instead of strided columns (about 5x faster forward + backward at 100,000
    features; measured in benchmarks/scale.py).
    With `linear_skip`, a bias-free linear path from the inputs to the logits runs beside the
    hidden layers ("wide and deep"): on small sparse data it carries what a linear model learns.
    """

    def __init__(
        self, n_features: int, n_labels: int, hidden: Sequence[int] = (32, 16, 8),
        dropout: float = 0.0, linear_skip: bool = False,
    ) -> None:
        super().__init__()
        sizes = [n_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.output = nn.Linear(sizes[-1], n_labels)
        self.skip = nn.Linear(n_features, n_labels, bias=False) if linear_skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)
        self.dropout = float(dropout)
        if n_features > WIDE_INPUT:
            first = self.linears[0]
            first.weight = nn.Parameter(first.weight.detach().t().contiguous().t())

    @property
    def linears(self) -> list[nn.Linear]:
        """Every Linear layer in order, output last."""
        return [*self.hidden, self.output]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mlp_logits(self.parameter_lists(), x, self.dropout, self.training)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Per-label probabilities: the sigmoid of the logits."""
        return torch.sigmoid(self(x))

    def parameter_lists(self) -> MLPParameters:
        """Weights and biases in layer order (output last), and the skip weight or None."""
        return MLPParameters(
            weights=[layer.weight for layer in self.linears],
            biases=[layer.bias for layer in self.linears],
            skip=self.skip.weight if self.skip is not None else None,
        )


class MLPParameters(NamedTuple):
    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    skip: torch.Tensor | None


def mlp_logits(params: MLPParameters, x: torch.Tensor, dropout: float = 0.0,
               training: bool = False) -> torch.Tensor:
    """The network's logits from explicit parameters: pure, so threads can share a module."""
    inputs = x
    last = len(params.weights) - 1
    for k in range(last):
        x = torch.relu(_linear(params.weights[k], params.biases[k], x))
        if dropout and training:
            x = nn.functional.dropout(x, dropout, training=True)
    logits = _linear(params.weights[last], params.biases[last], x)
    if params.skip is not None:
        logits = logits + _linear(params.skip, None, inputs)
    return logits


def _linear(weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    if x.layout == torch.sparse_csr and weight.t().is_contiguous():
        out = nn.functional.embedding_bag(
            x.col_indices(), weight.t(), x.crow_indices()[:-1], mode="sum",
            per_sample_weights=x.values(), include_last_offset=False)
        return out if bias is None else out + bias
    if x.layout != torch.strided:
        out = torch.sparse.mm(x, weight.t())
        return out if bias is None else out + bias
    return nn.functional.linear(x, weight, bias)


def csr_to_torch(matrix: sp.csr_matrix, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A scipy CSR matrix as a torch sparse CSR tensor (no densifying)."""
    with warnings.catch_warnings():  # torch calls its sparse CSR support "beta" on every call
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data).to(dtype),
            size=matrix.shape, check_invariants=False,
        )


def pin_constant_labels(network: MLP, never: np.ndarray, always: np.ndarray) -> None:
    """A label absent from (present in) every training row gets probability ~0 (~1) for any
    input: its output weights are zeroed and its bias set to -/+20."""
    if not (never.any() or always.any()):
        return
    layers = [network.output] + ([network.skip] if network.skip is not None else [])
    with torch.no_grad():
        for label in np.flatnonzero(never | always):
            for layer in layers:
                layer.weight[label] = 0.0
            network.output.bias[label] = 20.0 if always[label] else -20.0
