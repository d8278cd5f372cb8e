"""Per-label losses on logits: binary cross-entropy (optionally with `pos_weight`), focal loss
(Lin et al. 2017) and asymmetric loss (Ridnik et al. 2021, "Asymmetric Loss For Multi-Label
Classification").

Every loss is the mean over all (row, label) cells, like `binary_cross_entropy_with_logits`,
and offers `value_and_grad(logits, y)`: the batch loss and d(loss)/d(logits), used by the
hand-written backward pass (`fast_backprop`). BCE has its gradient in closed form; the others
differentiate the loss of a detached leaf with autograd (one small graph per batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from multitag.exceptions import ConfigError
from multitag.options import LOSS_PARAMS

# "auto" pos_weight: negatives/positives per label, clipped to this range. The ceiling keeps a
# label seen a handful of times from dominating the gradient (and the calibration) of the rest.
AUTO_POS_WEIGHT_RANGE = (1.0, 10.0)
_ASL = LOSS_PARAMS["asymmetric"]


@dataclass(frozen=True)
class LossSpec:
    """Which loss and its parameters, as stored in the training configuration (the values are
    checked where they are declared: multitag.options)."""

    name: str = "bce"
    pos_weight: str | tuple[float, ...] | None = None
    focal_gamma: float = LOSS_PARAMS["focal"]["focal_gamma"]
    gamma_neg: float = _ASL["gamma_neg"]
    gamma_pos: float = _ASL["gamma_pos"]
    clip: float = _ASL["clip"]

    def build(self, Y_train: np.ndarray | torch.Tensor) -> Loss:
        """The loss for training labels `Y_train` (which `pos_weight='auto'` counts)."""
        if self.name == "focal":
            return FocalLoss(self.focal_gamma)
        if self.name == "asymmetric":
            return AsymmetricLoss(self.gamma_neg, self.gamma_pos, self.clip)
        n_labels = Y_train.shape[1]
        if self.pos_weight is None:
            return BCELoss(None)
        if self.pos_weight == "auto":
            return BCELoss(torch.from_numpy(auto_pos_weight(np.asarray(Y_train))))
        if len(self.pos_weight) != n_labels:
            raise ConfigError(f"`pos_weight` has {len(self.pos_weight)} values for "
                              f"{n_labels} labels")
        return BCELoss(torch.tensor(self.pos_weight, dtype=torch.float32))


def auto_pos_weight(Y: np.ndarray) -> np.ndarray:
    """negatives / positives per label, clipped to `AUTO_POS_WEIGHT_RANGE` (labels never seen
    positive get the ceiling)."""
    return pos_weight_from_counts(np.asarray(Y.sum(axis=0)).ravel(), Y.shape[0])


def pos_weight_from_counts(positives: np.ndarray, n_rows: int) -> np.ndarray:
    """`auto_pos_weight` from each label's positive count among `n_rows` rows."""
    positives = np.asarray(positives, dtype=np.float64).ravel()
    negatives = n_rows - positives
    ratio = np.divide(negatives, positives, out=np.full_like(positives, np.inf),
                      where=positives > 0)
    return np.clip(ratio, *AUTO_POS_WEIGHT_RANGE).astype(np.float32)


class Loss:
    """Mean loss over every cell of a (batch, n_labels) block of logits."""

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.elementwise(logits, y).mean()

    def total(self, logits: torch.Tensor, y: torch.Tensor) -> float:
        """Sum over the cells (validation accumulates this over batches)."""
        return float(self.elementwise(logits, y).sum())

    def elementwise(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def value_and_grad(self, logits: torch.Tensor, y: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss, d mean loss / d logits) by autograd on a detached copy of `logits`."""
        with torch.enable_grad():
            leaf = logits.detach().requires_grad_(True)
            loss = self(leaf, y)
            (grad,) = torch.autograd.grad(loss, leaf)
        return loss.detach(), grad


class BCELoss(Loss):
    """Binary cross-entropy on logits; `pos_weight[j]` multiplies label j's positive term."""

    def __init__(self, pos_weight: torch.Tensor | None) -> None:
        self.pos_weight = pos_weight

    def elementwise(self, logits, y):
        return functional.binary_cross_entropy_with_logits(
            logits, y, pos_weight=self.pos_weight, reduction="none")

    def __call__(self, logits, y):
        return functional.binary_cross_entropy_with_logits(logits, y,
                                                           pos_weight=self.pos_weight)

    def value_and_grad(self, logits, y):
        loss = self(logits, y)
        grad = torch.sigmoid(logits)
        if self.pos_weight is None:
            grad.sub_(y)
        else:  # d/dx of -[w*y*log s + (1-y)*log(1-s)] = s*(1 + (w-1)*y) - w*y
            weighted_y = y * self.pos_weight
            grad.mul_(weighted_y - y + 1).sub_(weighted_y)
        return loss, grad.div_(logits.numel())


class FocalLoss(Loss):
    """Focal loss: BCE scaled by (1 - p_t)^gamma, so confident cells count less."""

    def __init__(self, gamma: float) -> None:
        self.gamma = float(gamma)

    def elementwise(self, logits, y):
        bce = functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        p = torch.sigmoid(logits)
        p_true = p * y + (1 - p) * (1 - y)
        return (1 - p_true).pow(self.gamma) * bce


class AsymmetricLoss(Loss):
    """ASL: positives weighted by (1-p)^gamma_pos, negatives by p_m^gamma_neg with the shifted
    probability p_m = max(p - clip, 0), which also discards very easy negatives entirely."""

    def __init__(self, gamma_neg: float, gamma_pos: float, clip: float) -> None:
        self.gamma_neg, self.gamma_pos, self.clip = float(gamma_neg), float(gamma_pos), clip

    def elementwise(self, logits, y):
        p = torch.sigmoid(logits)
        positive = -functional.logsigmoid(logits)
        if self.gamma_pos:
            positive = positive * (1 - p).pow(self.gamma_pos)
        shifted = (p - self.clip).clamp(min=0) if self.clip else p
        negative = -torch.log((1 - shifted).clamp(min=1e-8))
        if self.gamma_neg:
            negative = negative * shifted.pow(self.gamma_neg)
        return y * positive + (1 - y) * negative

    @torch.no_grad()
    def value_and_grad(self, logits, y):
        """The mean loss and its gradient in closed form, with few elementwise passes (on
        delicious' 983 labels autograd took a quarter of the training time). With
        p = sigmoid(z), q = 1 - p: d/dz of -q^g+ log p is g+ p q^g+ log p - q^(g+ + 1); of
        -s^g- log(1 - s), s = p - clip > 0: (s^g- / (1 - s) - g- s^(g- - 1) log(1 - s)) p q,
        and 0 where p <= clip."""
        p = torch.sigmoid(logits)
        q = 1.0 - p
        rest = (q + self.clip).clamp_(max=1.0) if self.clip else q.clamp(min=1e-8)
        s = 1.0 - rest  # the shifted probability max(p - clip, 0)
        log_rest = torch.log(rest)
        if not self.gamma_neg:
            negative = -log_rest
            d_negative = rest.reciprocal()
        else:
            below = _power(s, self.gamma_neg - 1)
            power = s.clone() if below is None else below * s
            below = torch.ones_like(s) if below is None else below
            negative = -(log_rest * power)
            d_negative = power / rest - self.gamma_neg * below * log_rest
        d_negative.mul_(p).mul_(q)
        if self.clip:
            d_negative.mul_(s > 0)
        positive = -functional.logsigmoid(logits)
        d_positive = -q
        if self.gamma_pos:
            weight = _power(q, self.gamma_pos)
            d_positive = self.gamma_pos * p * weight * -positive - q * weight
            positive = positive * weight
        on = y > 0
        value = torch.where(on, positive, negative).mean()
        grad = torch.where(on, d_positive, d_negative).div_(logits.numel())
        return value, grad


def _power(x: torch.Tensor, exponent: float) -> torch.Tensor | None:
    """x ** exponent by multiplication for small whole exponents (pow is slow); None for 0."""
    if exponent == 0:
        return None
    if float(exponent).is_integer() and 0 < exponent <= 4:
        out = x.clone()
        for _ in range(int(exponent) - 1):
            out.mul_(x)
        return out
    return x.pow(exponent)


def loss_spec_from(name: str = "bce", pos_weight: str | Sequence[float] | None = None,
                   **params: float) -> LossSpec:
    """A `LossSpec` from values (a list of weights becomes a tuple); unknown parameter names
    are a `ConfigError` listing the valid ones."""
    weights = pos_weight if pos_weight is None or isinstance(pos_weight, str) \
        else tuple(float(w) for w in pos_weight)
    valid = [k for names in LOSS_PARAMS.values() for k in names]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"unknown loss parameter(s) {unknown}; valid: {', '.join(valid)}")
    return LossSpec(name=name, pos_weight=weights, **{k: float(v) for k, v in params.items()})
