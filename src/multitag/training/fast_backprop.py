"""Hand-written backward pass for ReLU MLPs (with dropout) under any loss of `models.losses`.

Small networks spend almost all their time in per-operation overhead, not arithmetic; autograd's
graph bookkeeping roughly doubles the op count. This computes exactly the gradients autograd
would (tests check equality) with a handful of in-place torch ops, and writes them into each
parameter's `.grad`, so any torch optimizer can step as usual. Dropout draws its masks the way
`torch.nn.functional.dropout` does (one `bernoulli_` per hidden layer from the default
generator, scaled by 1 / (1 - p)), so a run takes the same random stream either way.
"""

from __future__ import annotations

import torch

from multitag.models.losses import BCELoss, Loss
from multitag.models.mlp import MLP

_relu_backward = torch.ops.aten.threshold_backward


def supports(module: torch.nn.Module, dense_input: bool) -> bool:
    """Whether `module` is a network this backward pass computes exactly."""
    return (isinstance(module, MLP) and dense_input
            and all(layer.weight.is_contiguous() for layer in module.linears))


class FastBackprop:
    """Forward + backward of an `MLP` without autograd; gradients land in `param.grad`."""

    def __init__(self, module: MLP, loss: Loss | None = None) -> None:
        self.loss = loss or BCELoss(None)
        linears = module.linears
        self.weights = [layer.weight.detach() for layer in linears]
        self.biases = [layer.bias.detach() for layer in linears]
        for layer in linears:
            layer.weight.grad = torch.zeros_like(layer.weight)
            layer.bias.grad = torch.zeros_like(layer.bias)
        self.weight_grads = [layer.weight.grad for layer in linears]
        self.bias_grads = [layer.bias.grad for layer in linears]
        self.dropout = float(module.dropout)
        self.module = module
        self.skip = module.skip.weight.detach() if module.skip is not None else None
        if module.skip is not None:
            module.skip.weight.grad = torch.zeros_like(module.skip.weight)
            self.skip_grad = module.skip.weight.grad

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fill the gradients for batch (x, y); return the batch's mean loss (a 0-d tensor)."""
        activations, masks = [x], []
        last = len(self.weights) - 1
        drop = self.dropout if self.module.training else 0.0
        for k in range(last):
            x = torch.addmm(self.biases[k], x, self.weights[k].t()).relu_()
            if drop:
                mask = torch.empty_like(x).bernoulli_(1.0 - drop).div_(1.0 - drop)
                masks.append(mask)
                x = x * mask
            activations.append(x)
        logits = torch.addmm(self.biases[last], x, self.weights[last].t())
        if self.skip is not None:
            logits.addmm_(activations[0], self.skip.t())
        loss, grad = self.loss.value_and_grad(logits, y)
        if self.skip is not None:
            torch.mm(grad.t(), activations[0], out=self.skip_grad)
        for k in range(last, -1, -1):
            torch.mm(grad.t(), activations[k], out=self.weight_grads[k])
            torch.sum(grad, 0, out=self.bias_grads[k])
            if k:
                grad = grad.mm(self.weights[k])
                if masks:
                    grad.mul_(masks[k - 1])  # dropped units pass no gradient
                grad = _relu_backward(grad, activations[k], 0)
        return loss
