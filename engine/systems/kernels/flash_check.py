"""One FlashAttention case checked against float64, and (on a GPU) raced against SDPA and naive attention.

Phase 27 lab 02 loops over sequence lengths and causal settings; each case goes through
`check_case` (output and stored log-sum-exp against engine.systems.kernels.reference's float64
oracle, on the same rounded inputs) and, when the kernel is compiled for a GPU, `gpu_race`
(difference from torch's scaled_dot_product_attention and CUDA-event timings).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from engine.systems.kernels.reference import attention64, lse64, max_abs, max_scaled

Flash = Callable[..., Any]


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """Attention with the full score matrix materialised (softmax in float32): the baseline flash avoids."""
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        n = s.shape[-1]
        s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool, device=s.device).tril(), float("-inf"))
    return torch.softmax(s.float(), -1).to(q.dtype) @ v


def check_case(flash: Flash, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, dev: Any,
               block_m: int, block_n: int, fault: Any = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """Run the kernel once; its output and the row of errors (max abs, max scaled, LSE max abs)."""
    o, lse = flash(q.to(dev), k.to(dev), v.to(dev), causal=causal, block_m=block_m, block_n=block_n, fault=fault)
    qn, kn, vn = (t.float().numpy() for t in (q, k, v))
    oracle = attention64(qn, kn, vn, causal)
    got = o.float().cpu().numpy()
    return o, {"max_abs_err": max_abs(got, oracle), "max_scaled_err": max_scaled(got, oracle),
               "lse_max_abs_err": max_abs(lse.cpu().numpy(), lse64(qn, kn, causal))}


def gpu_race(flash: Flash, o: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
             reps: int, with_naive: bool) -> dict[str, float]:
    """On CUDA: the kernel's gap to SDPA, and flash / SDPA (/ naive) milliseconds by CUDA events."""
    from engine.systems.hardware.gpu import event_seconds

    sdpa_fn = torch.nn.functional.scaled_dot_product_attention
    qd, kd, vd = q.cuda(), k.cuda(), v.cuda()
    sdpa = sdpa_fn(qd, kd, vd, is_causal=causal)
    row = {"sdpa_max_abs_diff": max_abs(o.float().cpu().numpy(), sdpa.float().cpu().numpy()),
           "flash_ms": 1e3 * event_seconds(lambda: flash(qd, kd, vd, causal), reps),
           "sdpa_ms": 1e3 * event_seconds(lambda: sdpa_fn(qd, kd, vd, is_causal=causal), reps)}
    if with_naive:
        row["naive_ms"] = 1e3 * event_seconds(lambda: naive_attention(qd, kd, vd, causal), reps)
    return row
