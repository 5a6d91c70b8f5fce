"""The BK mixer's two projections as custom autograd functions, for the shapes they have.

The mixer's projections are skinny: d -> C (the potentials) and 2C -> d (the features back),
with C = 1 for the seed's mixer. Through nn.Linear their backward calls BLAS with a 2-wide
operand in the orientation BLAS handles worst: at 32,768 tokens, d = 64, C = 1 (one thread,
measured) dW_out = g^T f took 2.6-3.7 ms where (f^T g)^T takes 0.34 ms, and dX_feat = g W
took 2.0-2.7 ms where g (W^T)^T (the same product, the weight copied to its transpose's
layout, 2C x d numbers) takes 0.5-1.0 ms. The weight gradient's skinny side goes on the left of
the product: for the first projection (out = C small) g^T x, for the second (in = 2C small)
(f^T g)^T; the other way round measured 10x slower at C = 8 (55 vs 5 ms for 65,536 x 64).
These functions compute the same products in the fast orientation:

    skinny_linear(x, W, b)                    = x W^T + b
    clamped_potential(x, W, b, v_max, shift)  = clamp(x W^T + b, -v_max, v_max) + shift

the second with the clamp and the shift fused in (one output instead of three, a one-byte
mask saved for the clamp's gradient), and their big outputs (the d-wide ones: x W^T + b and dL/dx)
come from the C kernel's pool of reusable maps instead of fresh pages. Forward values are those of
F.linear / clamp / add; the gradients are exact (the same sums, in another order: they differ by round-off only).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from engine.research.bk import native


def _flat(t: Tensor) -> Tensor:
    return t.reshape(-1, t.shape[-1])


def _out(rows: int, cols: int, like: Tensor) -> Tensor:
    """An output buffer; on CPU a big one comes from the C kernel's pool of reusable maps (native._empty):
    a fresh (32768 x 64) float32 output measured 6 ms of first-touch page faults, 10x its matmul."""
    if like.device.type != "cpu":
        return torch.empty(rows, cols, dtype=like.dtype, device=like.device)
    return native._empty((rows, cols), like.dtype)


def _linear_grads(ctx: Any, g2: Tensor, x2: Tensor, w: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """(dx, dW, db) of y = x W^T + b for g2 = dL/dy (rows x out), x2 the input (rows x in)."""
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    gx = torch.mm(g2, w.t().contiguous().t(), out=_out(g2.shape[0], w.shape[1], g2)) if need_x else None  # NT order
    gw = None
    if need_w:  # the skinny side's transpose on the left: (small x rows) @ (rows x big)
        gw = torch.mm(g2.t(), x2) if w.shape[0] <= w.shape[1] else torch.mm(x2.t(), g2).t()
    gb = g2.sum(0) if need_b else None
    return gx, gw, gb


class _SkinnyLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        x2 = _flat(x)
        ctx.save_for_backward(x2, w)
        ctx.lead = x.shape[:-1]
        return torch.addmm(b, x2, w.t(), out=_out(x2.shape[0], w.shape[0], x2)).view(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x2, w = ctx.saved_tensors
        gx, gw, gb = _linear_grads(ctx, _flat(g), x2, w)
        return (gx.view(*ctx.lead, w.shape[1]) if gx is not None else None), gw, gb


class _ClampedPotential(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, b: Tensor, v_max: float, shift: float) -> Tensor:
        x2 = _flat(x)
        v = torch.addmm(b, x2, w.t(), out=_out(x2.shape[0], w.shape[0], x2))
        inside = v.abs() <= v_max  # where clamp passes the gradient (torch's rule: -v_max <= v <= v_max)
        v.clamp_(-v_max, v_max).add_(shift)
        ctx.save_for_backward(x2, w, inside)
        ctx.lead = x.shape[:-1]
        return v.view(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, ...]:
        x2, w, inside = ctx.saved_tensors
        g2 = _flat(g) * inside
        gx, gw, gb = _linear_grads(ctx, g2, x2, w)
        return (gx.view(*ctx.lead, w.shape[1]) if gx is not None else None), gw, gb, None, None


def skinny_linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """x W^T + b (F.linear with a bias), its backward in the orientation that suits a 1-16-wide side."""
    out: Tensor = _SkinnyLinear.apply(x, w, b)
    return out


def clamped_potential(x: Tensor, w: Tensor, b: Tensor, v_max: float, shift: float) -> Tensor:
    """clamp(x W^T + b, -v_max, v_max) + shift in one autograd node (the mixer's diagonal, channel-last)."""
    out: Tensor = _ClampedPotential.apply(x, w, b, float(v_max), float(shift))
    return out
