"""Several networks whose per-label probabilities are averaged, each label with its own weights
(equal by default; a blend of networks and a linear model gets tuned ones). How they are
trained: `multitag.pipeline.members` and `multitag.pipeline.blend`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from multitag.models.mlp import MLP


class Ensemble(nn.Module):
    """N `MLP`s with the same inputs and labels; `forward` returns the logit of the weighted
    mean probability, so `sigmoid(forward(x))` is the averaged probability. `weights`
    (n_members, n_labels), each column summing to 1, defaults to equal weights."""

    def __init__(self, members: Sequence[MLP], weights: torch.Tensor | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one network")
        self.members = nn.ModuleList(members)
        n_members, n_labels = len(members), members[0].output.out_features
        if weights is None:
            weights = torch.full((n_members, n_labels), 1.0 / n_members)
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32)
                             .reshape(n_members, -1).expand(n_members, n_labels).clone())

    @property
    def output(self) -> nn.Linear:
        """The first member's output layer (its `out_features` is the label count)."""
        return self.members[0].output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.probabilities(x), eps=1e-7)

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The members' sigmoid outputs, averaged with `weights`."""
        stacked = torch.stack([torch.sigmoid(m(x)) for m in self.members])
        return (stacked * self.weights[:, None, :].to(stacked.dtype)).sum(0)
