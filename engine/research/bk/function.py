"""BK-Core as a torch.autograd.Function: real diagonal in, real features out.

Features are [Re G_ii, Im G_ii] stacked on a last axis of size 2, in the dtype of the
input diagonal. A real loss of those features has a well-defined gradient with respect
to the real potential, which is what `backward` returns:

    grad_mode="exact"   the true VJP (core.exact_vjp / core.causal_vjp), O(N) scans
    grad_mode="hybrid"  the seed's blend of -G^2 and -1/G^2 (`blend` = GRAD_BLEND)

Only the diagonal is differentiable; the couplings beta = b*c are fixed (the seed keeps
the base Laplacian's off-diagonals constant). The recursions run in complex128 by
default; precision="complex64" is the opt-in fast path whose error the labs measure.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from engine.research.bk import core, native

GRAD_MODES = ("exact", "hybrid")
BACKENDS = ("auto", "scan", "native", "native_rowwise")


def _use_native(alpha: Tensor, backend: str) -> bool:
    if backend in ("native", "native_rowwise") and not native.usable(alpha):
        raise RuntimeError("native BK-Core needs a CPU complex128 tensor and a C compiler")
    return backend in ("native", "native_rowwise") or (backend == "auto" and native.usable(alpha))


def _use_fused(diag: Tensor, beta: Tensor | float, grad_mode: str, precision: str, backend: str) -> bool:
    return backend in ("auto", "native") and grad_mode == "exact" and native.fused_usable(diag, beta, precision)


class BKCoreFunction(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        diag: Tensor,
        beta: Tensor | float,
        z: complex,
        causal: bool,
        grad_mode: str,
        blend: float,
        precision: str,
        backend: str,
    ) -> Tensor:
        ctx.fused = _use_fused(diag, beta, grad_mode, precision, backend)
        if ctx.fused:
            feats, saved = native.fused_forward(diag, float(beta), complex(z), causal)  # type: ignore[arg-type]
            ctx.save_for_backward(*saved)
            ctx.beta, ctx.z, ctx.causal, ctx.shape = float(beta), complex(z), causal, diag.shape  # type: ignore[arg-type]
            return feats
        cdtype = core.as_complex_dtype(precision)
        alpha = core.shifted_diagonal(diag, z, cdtype)
        b = core.coupling(beta, alpha)
        ctx.native = _use_native(alpha, backend)
        if ctx.native:
            g, d, e = native.forward(alpha, b, causal)
        elif causal:
            g, d = core.causal_diag(alpha, b)
            e = d  # unused placeholder
        else:
            g, d, e = core.resolvent_diag(alpha, b)
        ctx.save_for_backward(g, d, e, b)
        ctx.causal, ctx.grad_mode, ctx.blend = causal, grad_mode, blend
        return torch.stack([g.real, g.imag], dim=-1).to(diag.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        if ctx.needs_input_grad[1]:
            raise NotImplementedError("BK-Core differentiates the diagonal only; beta must be a constant")
        if ctx.fused:
            grad_in = native.fused_backward(grad_out, ctx.saved_tensors, ctx.beta, ctx.z, ctx.causal, ctx.shape)
            return grad_in, None, None, None, None, None, None, None
        g, d, e, b = ctx.saved_tensors
        grad_out = grad_out.to(g.real.dtype)
        w = torch.complex(grad_out[..., 0], -grad_out[..., 1])  # conj(dL/dRe G + i dL/dIm G)
        if ctx.grad_mode == "hybrid":
            grad = core.hybrid_vjp(w, g, ctx.blend)
        elif ctx.native:
            grad = native.backward(w, g, d, e, b, ctx.causal)
        elif ctx.causal:
            grad = core.causal_vjp(w, g, d, b)
        else:
            grad = core.exact_vjp(w, g, d, e, b)
        return grad.to(grad_out.dtype), None, None, None, None, None, None, None


def bk_features(
    diag: Tensor,
    beta: Tensor | float = 1.0,
    z: complex = 1j,
    *,
    causal: bool = False,
    grad_mode: str = "exact",
    blend: float = 0.5,
    precision: str = "complex128",
    backend: str = "auto",
) -> Tensor:
    """[Re, Im] of diag((H - zI)^-1), shape (..., N, 2), for H = diag(`diag`) + couplings.

    `diag` is the full diagonal (base h0_diag plus potential v), real, shape (..., N).
    `beta` is b_k * c_k, a float or a tensor broadcastable to (..., N-1).
    `backend`: "scan" (torch ops, any device), "native" (the C kernel, CPU complex128: the
    interleaved one when beta is a constant and the gradient exact, else the row-wise one),
    "native_rowwise" (always the row-wise C loop), "auto" (native when it applies, else scan).
    All compute the same exact quantities.
    """
    if grad_mode not in GRAD_MODES:
        raise ValueError(f"grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if diag.is_complex():
        raise TypeError("bk_features takes a real diagonal; z carries the complex shift")
    if diag.shape[-1] == 0:
        return diag.new_zeros((*diag.shape, 2))
    out: Tensor = BKCoreFunction.apply(diag, beta, complex(z), causal, grad_mode, blend, precision, backend)
    return out


def bk_resolvent(diag: Tensor, beta: Tensor | float = 1.0, z: complex = 1j, *, causal: bool = False,
                 precision: str = "complex128", backend: str = "scan") -> Tensor:
    """The complex G (no autograd), for analysis and checks; the torch scan unless told otherwise."""
    cdtype = core.as_complex_dtype(precision)
    alpha = core.shifted_diagonal(diag, z, cdtype)
    b = core.coupling(beta, alpha)
    if _use_native(alpha, backend):
        return native.forward(alpha, b, causal)[0]
    return core.causal_diag(alpha, b)[0] if causal else core.resolvent_diag(alpha, b)[0]
