"""Adam and AdamW as a thin wrapper over torch's fused kernels.

`torch.optim.Optimizer.__init__` imports `torch._dynamo` the first time it runs (1.5-2 s on
this machine's kind) and its `step()` adds ~0.1 ms of Python per call; for small networks both
dominate training. This class calls the same fused kernels `torch.optim.Adam(fused=True)` uses,
so results are identical (tested), and falls back to `torch.optim` where they are missing.
A column-major weight (the first layer of a wide sparse network) is updated through its
contiguous transpose: the fused kernel is ~6x slower on strided tensors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.autograd.graph import increment_version

_HAS_FUSED = hasattr(torch, "_fused_adam_") and hasattr(torch, "_fused_adamw_")


class FusedAdam:
    """Adam (L2 weight decay) or AdamW (decoupled weight decay) on a list of parameters."""

    def __init__(
        self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 0.0, decoupled: bool = False,
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps = float(lr), betas, float(eps)
        self.weight_decay, self.decoupled = float(weight_decay), decoupled
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device)
                      for p in self.params]
        self._fallback = None if _HAS_FUSED else self._torch_optimizer()
        flipped = [not p.is_contiguous() and p.dim() == 2 and p.t().is_contiguous()
                   for p in self.params]
        self._flipped = flipped if any(flipped) else None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update from the gradients in `param.grad`."""
        if self._fallback is not None:
            self._fallback.param_groups[0]["lr"] = self.lr
            self._fallback.step()
            return
        params, grads = self.params, [p.grad for p in self.params]
        exp_avg, exp_avg_sq = self.exp_avg, self.exp_avg_sq
        if self._flipped:
            params, grads, exp_avg, exp_avg_sq = (
                [t.t() if flip else t for t, flip in zip(ts, self._flipped)]
                for ts in (params, grads, exp_avg, exp_avg_sq))
            grads = [g.contiguous() for g in grads]
        torch._foreach_add_(self.steps, 1)
        kernel = torch._fused_adamw_ if self.decoupled else torch._fused_adam_
        kernel(
            params, grads, exp_avg, exp_avg_sq, [], self.steps,
            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
            weight_decay=self.weight_decay, eps=self.eps, amsgrad=False, maximize=False,
        )
        for p in self.params:  # the fused kernel does not mark its in-place update
            increment_version(p)

    def state_dict(self) -> dict[str, Any]:
        """Tensors and settings needed to resume exactly."""
        if self._fallback is not None:
            return {"torch_optimizer": self._fallback.state_dict()}
        return {"lr": self.lr, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq,
                "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._fallback is not None:
            self._fallback.load_state_dict(state["torch_optimizer"])
            return
        self.lr = float(state["lr"])
        for name in ("exp_avg", "exp_avg_sq", "steps"):
            for mine, saved in zip(getattr(self, name), state[name]):
                mine.copy_(saved)

    def _torch_optimizer(self) -> torch.optim.Optimizer:
        cls = torch.optim.AdamW if self.decoupled else torch.optim.Adam
        return cls(self.params, lr=self.lr, betas=self.betas, eps=self.eps,
                   weight_decay=self.weight_decay)
