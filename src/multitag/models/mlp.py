"""The network: Dense/ReLU hidden layers and one logit per label (sigmoid applied at the output)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import nn


class MLP(nn.Module):
    """Feed-forward multi-label network returning logits of shape (batch, n_labels).

    Sparse input (a torch sparse CSR/COO batch) is multiplied directly by the first layer.
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

    @property
    def linears(self) -> list[nn.Linear]:
        """Every Linear layer in order, output last."""
        return [*self.hidden, self.output]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = x
        for index, layer in enumerate(self.hidden):
            x = _linear(layer, x) if index == 0 else layer(x)
            x = torch.relu(x)
            if self.dropout and self.training:
                x = nn.functional.dropout(x, self.dropout, training=True)
        logits = _linear(self.output, x) if not self.hidden else self.output(x)
        if self.skip is not None:
            logits = logits + _linear(self.skip, inputs)
        return logits


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if x.layout != torch.strided:
        out = torch.sparse.mm(x, layer.weight.t())
        return out if layer.bias is None else out + layer.bias
    return layer(x)
