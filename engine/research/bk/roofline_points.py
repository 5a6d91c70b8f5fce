"""Roofline probes for BK-Core and softmax attention (forward+backward, B=8, N=2048, d=64).

`register()` adds both as probes on engine.systems.hardware.roofline, so any roofline measured
afterwards in the same process places them next to its built-in kernels:

    from engine.research.bk.roofline_points import register
    register()
"""

from __future__ import annotations

from typing import Any

import torch

from engine.lm.models.attention import SelfAttention
from engine.research.bk import flops
from engine.research.bk.function import bk_features
from engine.systems.hardware.roofline import OpPoint, register_probe
from engine.systems.hardware.timing import time_call


def bk_core_point(batch: int = 8, n: int = 2048, min_time_s: float = 0.1) -> OpPoint:
    v = (-2.0 + 0.5 * torch.randn(batch, n, generator=torch.Generator().manual_seed(0))).requires_grad_()

    def step() -> None:
        v.grad = None
        bk_features(v).sum().backward()

    cost = flops.bk_core_cost(batch, n)
    t = time_call(step, min_time_s=min_time_s, batches=3).best_s
    return OpPoint(f"BK-Core fwd+bwd N={n}", cost.flops, cost.bytes, t, "bk-scaling")


def attention_point(batch: int = 8, n: int = 2048, d_model: int = 64, heads: int = 4,
                    min_time_s: float = 0.1) -> OpPoint:
    x = torch.randn(batch, n, d_model, generator=torch.Generator().manual_seed(0), requires_grad=True)
    attn = SelfAttention(d_model, heads)

    def step() -> None:
        x.grad = None
        attn(x).sum().backward()

    cost = flops.attention_cost(batch, n, d_model, heads)
    t = time_call(step, min_time_s=min_time_s, batches=3).best_s
    return OpPoint(f"attention fwd+bwd N={n}", cost.flops, cost.bytes, t, "bk-scaling")


def register(**kw: Any) -> None:
    register_probe("bk_core", lambda: bk_core_point(**kw))
    register_probe("attention_bk_baseline", lambda: attention_point(**kw))
