"""LayerNorm forward in Triton: one program per row, the row in one tile (d_model <= a few thousand).

y = (x - mean) / sqrt(var + eps) * weight + bias with the biased variance, as torch and the NumPy
Mini-GPT compute it. Statistics are accumulated in float32 whatever the input dtype.
Import only after engine.systems.kernels.runtime.prepare(device).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def _layernorm_kernel(X, W, B, Y, stride, n_cols, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(X + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, 0) / n_cols
    diff = tl.where(mask, x - mean, 0.0)
    var = tl.sum(diff * diff, 0) / n_cols
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(B + cols, mask=mask, other=0.0).to(tl.float32)
    y = diff / tl.sqrt(var + eps) * w + b
    tl.store(Y + row * stride + cols, y.to(Y.dtype.element_ty), mask=mask)


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5, num_warps: int = 4) -> Tensor:
    """LayerNorm over the last axis of x (any leading shape)."""
    shape = x.shape
    rows = x.reshape(-1, shape[-1]).contiguous()
    y = torch.empty_like(rows)
    _layernorm_kernel[(rows.shape[0],)](rows, weight.contiguous(), bias.contiguous(), y, rows.stride(0), shape[-1],
                                        float(eps), BLOCK=triton.next_power_of_2(shape[-1]), num_warps=num_warps)
    return y.reshape(shape)
