"""A softmax registered as a custom operator `lynx::softmax` with its own backward.

torch.library.custom_op makes the function opaque to torch.compile: Dynamo and AOTAutograd keep
it as one call (they trace through the fake kernel for shapes only) instead of decomposing it.
The backward saves the output s and returns s·(g − Σ s·g) along the softmax axis.
Requires torch ≥ 2.4 (custom_op, register_fake, register_autograd).
"""

from __future__ import annotations

from typing import Any

import torch


@torch.library.custom_op("lynx::softmax", mutates_args=())
def softmax(x: torch.Tensor) -> torch.Tensor:
    """Numerically stable softmax over the last axis."""
    z = x - x.amax(-1, keepdim=True)
    e = z.exp()
    return e / e.sum(-1, keepdim=True)


@softmax.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
    ctx.save_for_backward(output)


def _backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
    (s,) = ctx.saved_tensors
    return s * (grad - (s * grad).sum(-1, keepdim=True))


softmax.register_autograd(_backward, setup_context=_setup_context)


class SoftmaxHead(torch.nn.Module):
    """Linear(d_in, d_out) followed by the custom softmax: the LM head of the Mini-GPT."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return softmax(self.proj(x))
