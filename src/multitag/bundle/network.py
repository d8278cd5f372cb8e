"""A saved network applied in numpy: no torch needed to predict.

A network of Dense layers is a few matrix products, so `predict`, `evaluate`, `serve` and the
report read the weights from the safetensors file and compute the probabilities here, in
float64 (a row's result does not depend on its batch), chunk by chunk; torch is imported only
by the code that trains (`from_module`) or exports (`to_module`). Tensor names are those of the
torch modules' state dicts (`hidden.0.weight`, ..., `output.bias`, `skip.weight`), prefixed by
the member's number in an ensemble, so model directories are the same as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

CHUNK_ROWS = 8192
# Above this many parameters the weights stay float32 (float64 copies would double memory).
FLOAT64_PARAMETERS = 50_000_000


@dataclass(frozen=True)
class Member:
    """One network: weights (in, out) and biases per layer, output last; the optional linear
    path from the inputs to the logits (in, labels)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    skip: np.ndarray | None = None

    @property
    def hidden(self) -> list[int]:
        return [int(w.shape[1]) for w in self.weights[:-1]]

    def logits(self, X: Any) -> np.ndarray:
        """The logits (rows, labels) of preprocessed features `X` (dense or CSR)."""
        h = X
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            h = np.maximum(_dot(h, W) + b, 0.0)
        out = _dot(h, self.weights[-1]) + self.biases[-1]
        if self.skip is not None:
            out += _dot(X, self.skip)
        return out


@dataclass(frozen=True)
class Network:
    """One network or an ensemble: members' probabilities mixed per label by `mix`
    (members, labels), each column summing to 1."""

    members: tuple[Member, ...]
    mix: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.members[0].weights[0].shape[0])

    @property
    def n_labels(self) -> int:
        return int(self.members[0].biases[-1].shape[0])

    def predict_proba(self, X: Any, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
        """Probabilities (rows, labels) of preprocessed features `X`, in bounded memory."""
        parts = [np.zeros((0, self.n_labels))]
        dtype = self.members[0].weights[0].dtype
        for start in range(0, X.shape[0], chunk_rows):
            chunk = _as_dtype(X[start:start + chunk_rows], dtype)
            mixed = sum(w * sigmoid(m.logits(chunk)) for w, m in zip(self.mix, self.members))
            parts.append(np.clip(mixed, 0.0, 1.0))
        return np.concatenate(parts)

    # -- tensors -------------------------------------------------------------------------------
    def tensors(self, prefix: str = "network.") -> dict[str, np.ndarray]:
        """The safetensors layout: the torch state-dict names, one set per member."""
        if len(self.members) == 1:
            return {prefix + k: v for k, v in _member_tensors(self.members[0]).items()}
        tensors = {f"{prefix}{i}.{k}": v for i, member in enumerate(self.members)
                   for k, v in _member_tensors(member).items()}
        tensors[f"{prefix}weights"] = np.ascontiguousarray(self.mix, dtype=np.float32)
        return tensors

    @classmethod
    def from_tensors(cls, members: list[Mapping[str, np.ndarray]],
                     mix: np.ndarray | None) -> Network:
        """From checked tensors: one mapping of state-dict names per member."""
        built = tuple(_member(found) for found in members)
        if mix is None:
            mix = np.full((len(built), built[0].biases[-1].shape[0]), 1.0 / len(built))
        mix = np.asarray(mix, dtype=np.float64)
        return cls(built, mix / mix.sum(axis=0))

    # -- torch, for training and export only ----------------------------------------------------
    @classmethod
    def from_module(cls, module: Any) -> Network:
        """The weights of a trained torch `MLP` or `Ensemble`."""
        members = getattr(module, "members", [module])
        mix = module.weights.detach().cpu().double().numpy() if hasattr(module, "weights") \
            else None
        return cls.from_tensors([{k: v.detach().cpu().numpy() for k, v in m.state_dict().items()}
                                 for m in members], mix)

    def to_module(self) -> Any:
        """The torch module (`MLP` or `Ensemble`) with these weights, in evaluation mode."""
        import torch

        from multitag.models.ensemble import Ensemble
        from multitag.models.mlp import MLP

        modules = []
        for member in self.members:
            network = MLP(self.n_features, self.n_labels, tuple(member.hidden),
                          linear_skip=member.skip is not None)
            network.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32))
                                     for k, v in _member_tensors(member).items()})
            modules.append(network.eval())
        if len(modules) == 1:
            return modules[0]
        return Ensemble(modules, torch.from_numpy(self.mix.astype(np.float32))).eval()


def expected_shapes(n_features: int, n_labels: int, hidden: list[int],
                    linear_skip: bool) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes a member with this architecture has (torch layout:
    weights are (out, in))."""
    sizes = [n_features, *hidden]
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(len(hidden)):
        shapes[f"hidden.{k}.weight"] = (sizes[k + 1], sizes[k])
        shapes[f"hidden.{k}.bias"] = (sizes[k + 1],)
    shapes["output.weight"] = (n_labels, sizes[-1])
    shapes["output.bias"] = (n_labels,)
    if linear_skip:
        shapes["skip.weight"] = (n_labels, n_features)
    return shapes


def _member(found: Mapping[str, np.ndarray]) -> Member:
    n_hidden = sum(1 for k in found if k.startswith("hidden.") and k.endswith(".weight"))
    names = [f"hidden.{k}" for k in range(n_hidden)] + ["output"]
    total = sum(int(np.prod(v.shape)) for v in found.values())
    dtype = np.float64 if total <= FLOAT64_PARAMETERS else np.float32
    weights = tuple(np.ascontiguousarray(np.asarray(found[f"{n}.weight"]).T, dtype=dtype)
                    for n in names)
    biases = tuple(np.asarray(found[f"{n}.bias"], dtype=dtype) for n in names)
    skip = found.get("skip.weight")
    return Member(weights, biases, None if skip is None else
                  np.ascontiguousarray(np.asarray(skip).T, dtype=dtype))


def _member_tensors(member: Member) -> dict[str, np.ndarray]:
    names = [f"hidden.{k}" for k in range(len(member.weights) - 1)] + ["output"]
    tensors = {}
    for name, W, b in zip(names, member.weights, member.biases):
        tensors[f"{name}.weight"] = np.ascontiguousarray(W.T, dtype=np.float32)
        tensors[f"{name}.bias"] = np.ascontiguousarray(b, dtype=np.float32)
    if member.skip is not None:
        tensors["skip.weight"] = np.ascontiguousarray(member.skip.T, dtype=np.float32)
    return tensors


def _dot(X: Any, W: np.ndarray) -> np.ndarray:
    out = X @ W
    return np.asarray(out)


def _as_dtype(X: Any, dtype: Any) -> Any:
    if sp.issparse(X):
        return sp.csr_matrix(X, dtype=dtype)
    return np.asarray(X, dtype=dtype)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))
