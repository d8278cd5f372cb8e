"""Several networks whose per-label probabilities are averaged (how they are trained:
`multitag.pipeline.members`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from multitag.models.mlp import MLP


class Ensemble(nn.Module):
    """N `MLP`s with the same inputs and labels; `forward` returns the logit of the mean
    probability, so `sigmoid(forward(x))` is the averaged probability."""

    def __init__(self, members: Sequence[MLP]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one network")
        self.members = nn.ModuleList(members)

    @property
    def output(self) -> nn.Linear:
        """The first member's output layer (its `out_features` is the label count)."""
        return self.members[0].output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.probabilities(x), eps=1e-7)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The members' sigmoid outputs, averaged."""
        return torch.stack([torch.sigmoid(m(x)) for m in self.members]).mean(0)
