"""Row-wise softmax in Triton, three ways, from the course's optimisation ladder.

naive   three passes over global memory per row (max, sum of exponentials, write), tile by tile:
        the row is read three times and written once.
online  two passes: the first carries a per-lane running max m and sum s through the tiles
        (s' = s e^(m - m') + e^(x - m')), the second writes; the row is read twice.
fused   the whole row in one tile (BLOCK >= n_cols): read once, written once; the fastest when a
        row fits, and the kernel the Mini-GPT port uses. `tune_fused` picks num_warps by timing.

Faults (the phase's breaks): `no_max_shift` (naive: e^x without subtracting the row max, which
overflows float32 for logits above ~88) and `tail_zero` (online: the masked lanes of the last
tile read 0 instead of -inf, so padding adds e^(0 - m) to every row's denominator).
Import only after engine.systems.kernels.runtime.prepare(device).
"""

from __future__ import annotations

import time
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

FAULTS = ("no_max_shift", "tail_zero")


@triton.jit
def _naive_kernel(X, Y, stride, n_cols, BLOCK: tl.constexpr, SHIFT: tl.constexpr):
    row = tl.program_id(0)
    x_row, y_row = X + row * stride, Y + row * stride
    offs = tl.arange(0, BLOCK)
    m = tl.full([BLOCK], float("-inf"), tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + offs
        m = tl.maximum(m, tl.load(x_row + cols, mask=cols < n_cols, other=float("-inf")))
    row_max = tl.max(m, 0) * SHIFT  # SHIFT = 0 is the break: no max subtracted
    s = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + offs
        s += tl.exp(tl.load(x_row + cols, mask=cols < n_cols, other=float("-inf")) - row_max)
    total = tl.sum(s, 0)
    for start in range(0, n_cols, BLOCK):
        cols = start + offs
        x = tl.load(x_row + cols, mask=cols < n_cols, other=float("-inf"))
        tl.store(y_row + cols, tl.exp(x - row_max) / total, mask=cols < n_cols)


@triton.jit
def _online_kernel(X, Y, stride, n_cols, BLOCK: tl.constexpr, BAD_TAIL: tl.constexpr):
    row = tl.program_id(0)
    x_row, y_row = X + row * stride, Y + row * stride
    offs = tl.arange(0, BLOCK)
    m = tl.full([BLOCK], -1.0e30, tl.float32)  # finite: a lane that never sees data stays harmless
    s = tl.zeros([BLOCK], tl.float32)
    for start in range(0, n_cols, BLOCK):
        cols = start + offs
        mask = cols < n_cols
        x = tl.load(x_row + cols, mask=mask, other=float("-inf"))
        if BAD_TAIL:
            x = tl.where(mask, x, 0.0)  # the break: padding lanes read as 0, not -inf
        m_new = tl.maximum(m, x)
        s = s * tl.exp(m - m_new) + tl.exp(x - m_new)
        m = m_new
    row_max = tl.max(m, 0)
    total = tl.sum(s * tl.exp(m - row_max), 0)
    for start in range(0, n_cols, BLOCK):
        cols = start + offs
        x = tl.load(x_row + cols, mask=cols < n_cols, other=float("-inf"))
        tl.store(y_row + cols, tl.exp(x - row_max) / total, mask=cols < n_cols)


@triton.jit
def _fused_kernel(X, Y, stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(X + row * stride + cols, mask=mask, other=float("-inf")).to(tl.float32)
    e = tl.exp(x - tl.max(x, 0))
    y = e / tl.sum(e, 0)
    tl.store(Y + row * stride + cols, y.to(Y.dtype.element_ty), mask=mask)


def _rows(x: Tensor) -> Tensor:
    if x.dim() != 2:
        raise ValueError(f"softmax kernels take a (rows, cols) tensor, got shape {tuple(x.shape)}")
    return x.contiguous()


def softmax(x: Tensor, kernel: str = "online", block: int = 256, num_warps: int = 4, fault: str | None = None) -> Tensor:
    """Softmax over the last axis of a float32 (rows, cols) tensor with the named Triton kernel."""
    x = _rows(x)
    y = torch.empty_like(x)
    rows, cols = x.shape
    if kernel == "naive":
        _naive_kernel[(rows,)](x, y, x.stride(0), cols, BLOCK=block, SHIFT=0 if fault == "no_max_shift" else 1,
                               num_warps=num_warps)
    elif kernel == "online":
        _online_kernel[(rows,)](x, y, x.stride(0), cols, BLOCK=block, BAD_TAIL=fault == "tail_zero",
                                num_warps=num_warps)
    elif kernel == "fused":
        _fused_kernel[(rows,)](x, y, x.stride(0), cols, BLOCK=max(block, triton.next_power_of_2(cols)),
                               num_warps=num_warps)
    else:
        raise ValueError(f"unknown softmax kernel {kernel!r} (naive, online, fused)")
    return y


def tune_fused(x: Tensor, warps: tuple[int, ...] = (2, 4, 8), blocks: tuple[int, ...] = (), reps: int = 50,
               interpreting: bool = False) -> dict[str, Any]:
    """Pick (BLOCK, num_warps) for the fused kernel by timing each on `x`; BLOCK >= next_pow2(cols) only
    (a smaller tile would softmax part of the row). Under the interpreter timing means nothing: the
    first candidate is returned and `timed` is False."""
    need = triton.next_power_of_2(x.shape[-1])
    cands = [(b, w) for b in sorted({max(b, need) for b in blocks} or {need}) for w in warps]
    if interpreting:
        return {"block": cands[0][0], "num_warps": cands[0][1], "timed": False, "candidates": len(cands)}
    best: tuple[float, int, int] | None = None
    for b, w in cands:
        softmax(x, "fused", b, w)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            softmax(x, "fused", b, w)
        torch.cuda.synchronize()
        t = (time.perf_counter() - t0) / reps
        if best is None or t < best[0]:
            best = (t, b, w)
    assert best is not None
    return {"block": best[1], "num_warps": best[2], "timed": True, "candidates": len(cands), "seconds": best[0]}
