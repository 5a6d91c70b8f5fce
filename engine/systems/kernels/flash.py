"""FlashAttention forward in Triton (the Flash-2 order: query tiles outer, key/value tiles inner).

One program per (query tile, batch x head). Each keeps its BLOCK_M queries, a running max m, a
running sum l and an unnormalised output in float32, streams BLOCK_N keys and values at a time
through the online softmax (rescaling old l and O by alpha = e^(m - m') when the max rises), and
writes O and the log-sum-exp m + log l (what a backward would need). The N x N scores never
leave the program. Causal: key tiles past the diagonal are skipped, the diagonal tile masked.

Fault `no_rescale` drops the alpha rescaling: exact only when no later tile raises a row's max.
Import only after engine.systems.kernels.runtime.prepare(device).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def _flash_fwd(Q, K, V, O, L, sm_scale, N, stride_bh, stride_n,
               D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
               CAUSAL: tl.constexpr, RESCALE: tl.constexpr, IEEE: tl.constexpr):
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, D)
    base = bh * stride_bh
    q = tl.load(Q + base + offs_m[:, None] * stride_n + offs_d[None, :], mask=offs_m[:, None] < N, other=0.0)
    m_i = tl.full([BLOCK_M], -1.0e30, tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, D], tl.float32)
    hi = N
    if CAUSAL:
        hi = tl.minimum((pid_m + 1) * BLOCK_M, N)
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kv_mask = offs_n[:, None] < N
        k = tl.load(K + base + offs_n[:, None] * stride_n + offs_d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(V + base + offs_n[:, None] * stride_n + offs_d[None, :], mask=kv_mask, other=0.0)
        if IEEE:  # noqa: SIM108 (a constexpr branch: Triton compiles one side only; keep the statement form)
            s = tl.dot(q, tl.trans(k), input_precision="ieee") * sm_scale
        else:
            s = tl.dot(q, tl.trans(k)) * sm_scale
        valid = offs_n[None, :] < N
        if CAUSAL:
            valid = valid & (offs_n[None, :] <= offs_m[:, None])
        s = tl.where(valid, s, -1.0e30)
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp(s - m_new[:, None])
        p = tl.where(valid, p, 0.0)
        if RESCALE:  # noqa: SIM108 - constexpr branches, kept explicit for Triton's code generator
            alpha = tl.exp(m_i - m_new)
        else:
            alpha = tl.full([BLOCK_M], 1.0, tl.float32)  # the break: old sums keep their old max
        l_i = l_i * alpha + tl.sum(p, 1)
        if IEEE:  # noqa: SIM108 - constexpr branches, kept explicit for Triton's code generator
            pv = tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            pv = tl.dot(p.to(v.dtype), v)
        acc = acc * alpha[:, None] + pv
        m_i = m_new
    out = acc / l_i[:, None]
    row_ok = offs_m < N
    tl.store(O + base + offs_m[:, None] * stride_n + offs_d[None, :], out.to(O.dtype.element_ty), mask=row_ok[:, None])
    tl.store(L + bh * N + offs_m, m_i + tl.log(l_i), mask=row_ok)


def flash_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = True, block_m: int = 64, block_n: int = 64,
                    fault: str | None = None, num_warps: int = 4) -> tuple[Tensor, Tensor]:
    """(B, H, N, d) q, k, v (same dtype; d a power of two >= 16) -> (O like q, lse float32 (B, H, N))."""
    if q.shape != k.shape or q.shape != v.shape or q.dim() != 4:
        raise ValueError(f"q, k, v must share one (B, H, N, d) shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    b, h, n, d = q.shape
    if d < 16 or d & (d - 1):
        raise ValueError(f"head dim {d}: must be a power of two >= 16 (tl.dot tile)")
    q3, k3, v3 = (t.reshape(b * h, n, d).contiguous() for t in (q, k, v))
    o = torch.empty_like(q3)
    lse = torch.empty((b * h, n), dtype=torch.float32, device=q.device)
    grid = (triton.cdiv(n, block_m), b * h)
    _flash_fwd[grid](q3, k3, v3, o, lse, 1.0 / math.sqrt(d), n, q3.stride(0), q3.stride(1),
                     D=d, BLOCK_M=block_m, BLOCK_N=block_n, CAUSAL=causal, RESCALE=fault != "no_rescale",
                     IEEE=q.dtype == torch.float32, num_warps=num_warps)
    return o.reshape(b, h, n, d), lse.reshape(b, h, n)
