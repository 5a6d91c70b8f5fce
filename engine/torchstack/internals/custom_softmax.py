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


def against_torch(rows: int, cols: int) -> tuple[float, float]:
    """(max |forward gap|, max |input-gradient gap|) of the custom op against torch.softmax on one
    random (rows, cols) input and upstream gradient, drawn from torch's global generator."""
    x = torch.randn(rows, cols, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    g = torch.randn(rows, cols)
    s = softmax(x)
    s_ref = torch.softmax(x_ref, -1)
    s.backward(g)
    s_ref.backward(g)
    assert x.grad is not None and x_ref.grad is not None
    return (s - s_ref).abs().max().item(), (x.grad - x_ref.grad).abs().max().item()


def aten_forward_graph(head: torch.nn.Module, x: torch.Tensor) -> str:
    """The forward ATen graph AOTAutograd traces for `head` (fullgraph): the custom op should appear
    as one opaque `lynx.softmax` node, not decomposed into exp and sum."""
    from torch._dynamo.backends.common import aot_autograd

    graphs: list[str] = []

    def capture(gm: torch.fx.GraphModule, inputs: Any) -> Any:
        graphs.append(str(gm.graph))
        return gm.forward

    torch._dynamo.reset()
    torch.compile(head, backend=aot_autograd(fw_compiler=capture), fullgraph=True)(x)
    return graphs[0] if graphs else ""


def compiled_vs_eager(head: torch.nn.Module, x: torch.Tensor, backend: str) -> tuple[bool, float]:
    """(two compiled calls are finite and within 1e-5 of eager, their max |gap|) under `backend`."""
    torch._dynamo.reset()
    compiled = torch.compile(head, backend=backend)
    eager = head(x)
    outs = [compiled(x) for _ in range(2)]
    diff = max((o - eager).abs().max().item() for o in outs)
    ok = all(torch.isfinite(o).all().item() for o in outs) and diff < 1e-5
    torch._dynamo.reset()
    return bool(ok), diff
