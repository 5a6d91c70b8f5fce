"""Weight quantization in torch: symmetric INT8/INT4 per tensor, per output row, per group; NF4.

Symmetric codes live in [-qmax, qmax] with qmax = 2^(bits-1) - 1 (127 for INT8, 7 for INT4) and
w ~ s * q. Scales are stored as FP16 (the course's byte rule), rounded *up* to the next FP16
value so that max|w| / s never exceeds qmax: round-to-nearest then errs by at most s/2.
The granularity decides who shares a scale: the whole matrix, one output row (scale shape
(out, 1)), or one block of `group_size` inputs within a row (scale shape (out, in/group)).
This is the torch counterpart of engine.scratch.numerics.quant (NumPy, phase 02), which it tests against.
"""

from __future__ import annotations

import torch
from torch import Tensor

# QLoRA's NF4 code book: 16 levels at normal quantiles, rescaled to [-1, 1], with an exact zero.
NF4_CODE = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0])
SCALE_FLOOR = 1e-9  # the max(s, 1e-9) guard: an all-zero row would divide by zero


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def fp16_scale(amax: Tensor, levels: int) -> Tensor:
    """amax / levels as FP16, nudged up one FP16 step wherever rounding went down."""
    exact = (amax.float() / levels).clamp(min=SCALE_FLOOR)
    s16 = exact.half()
    low = s16.float() < exact
    s16 = torch.where(low, torch.nextafter(s16, torch.full_like(s16, float("inf"))), s16)
    return s16


def _round_clamp(w: Tensor, scale: Tensor, bits: int, clamp: bool = True) -> Tensor:
    q = torch.round(w.float() / scale.float())
    if clamp:
        q = q.clamp(-qmax(bits), qmax(bits))
    return q.to(torch.int8)


def quantize_symmetric_per_tensor(W: Tensor, bits: int = 8, percentile: float = 100.0) -> tuple[Tensor, Tensor]:
    """One scale for the whole matrix. `percentile` < 100 clips the outliers before choosing it."""
    a = W.abs().float()
    amax = a.max() if percentile >= 100 else torch.quantile(a.flatten(), percentile / 100)
    s = fp16_scale(amax, qmax(bits))
    return _round_clamp(W, s, bits), s


def quantize_symmetric_per_channel(W: Tensor, bits: int = 8, dim: int = 0,
                                   percentile: float = 100.0) -> tuple[Tensor, Tensor]:
    """One scale per slice along `dim` (dim 0: per output row, scale shape (out, 1))."""
    a = W.abs().float()
    red = 1 - dim
    amax = a.amax(dim=red, keepdim=True) if percentile >= 100 else torch.quantile(a, percentile / 100, dim=red,
                                                                                     keepdim=True)
    s = fp16_scale(amax, qmax(bits))
    return _round_clamp(W, s, bits), s


def quantize_symmetric_per_group(W: Tensor, bits: int = 4, group_size: int = 64) -> tuple[Tensor, Tensor]:
    """One scale per `group_size` consecutive inputs of a row; codes shape (out, in), scales (out, in/g)."""
    out_f, in_f = W.shape
    if in_f % group_size:
        raise ValueError(f"in_features={in_f} is not a multiple of group_size={group_size}")
    g = W.float().reshape(out_f, in_f // group_size, group_size)
    s = fp16_scale(g.abs().amax(dim=-1), qmax(bits))
    q = _round_clamp(g, s.unsqueeze(-1), bits).reshape(out_f, in_f)
    return q, s


def dequantize(q: Tensor, scale: Tensor) -> Tensor:
    """FP32 weights from codes and scales of any granularity (scalar, (out, 1) or (out, groups))."""
    s = scale.float()
    if s.dim() == 2 and s.shape[1] not in (1, q.shape[1]):  # per-group scales
        g = q.shape[1] // s.shape[1]
        return (q.float().reshape(q.shape[0], s.shape[1], g) * s.unsqueeze(-1)).reshape(q.shape)
    return q.float() * s


def quantize_naive_global(W: Tensor, bits: int = 4) -> tuple[Tensor, Tensor]:
    """The phase-26 break: the per-row amax(dim=1) became a tensor-wide amax() and the clamp is gone.

    Every row then shares the step of the row with the largest weight; rows of small weights
    round mostly to zero, and at 4 bits (7 levels each side) that is most of the matrix.
    """
    s = fp16_scale(W.abs().amax(), qmax(bits))
    return torch.round(W.float() / s.float()).to(torch.int8), s


def nf4_quantize(W: Tensor, group_size: int = 64) -> tuple[Tensor, Tensor]:
    """NF4 with per-group absmax: code indices 0..15 (uint8) and FP16 absmax per group."""
    out_f, in_f = W.shape
    g = W.float().reshape(out_f, in_f // group_size, group_size)
    absmax = g.abs().amax(dim=-1).clamp(min=SCALE_FLOOR).half()
    normed = g / absmax.float().unsqueeze(-1)
    idx = (normed.unsqueeze(-1) - NF4_CODE).abs().argmin(dim=-1)
    return idx.to(torch.uint8).reshape(out_f, in_f), absmax


def nf4_dequantize(idx: Tensor, absmax: Tensor) -> Tensor:
    out_f, in_f = idx.shape
    groups = absmax.shape[1]
    vals = NF4_CODE.to(idx.device)[idx.long()].reshape(out_f, groups, in_f // groups)
    return (vals * absmax.float().unsqueeze(-1)).reshape(out_f, in_f)


def rounding_error_in_steps(W: Tensor, q: Tensor, scale: Tensor, bits: int) -> float:
    """max |W - deq(q)| / s over the codes that were not clipped; <= 0.5 for round-to-nearest."""
    s = scale.float()
    if s.dim() == 2 and s.shape[1] not in (1, q.shape[1]):
        s = s.repeat_interleave(q.shape[1] // s.shape[1], dim=1)
    err = (W.float() - dequantize(q, scale)).abs() / s
    inside = (W.float() / s).abs() <= qmax(bits) + 0.5
    return float(err[inside].max())
