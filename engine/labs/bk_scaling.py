"""Experiment bk-scaling: forward+backward time against sequence length, BK-Core vs attention.

Ops, all timed as one forward and one backward on a (batch, N) problem:
    bk_core       BK-Core alone, complex128, exact gradient (the seed's op), default backend
                  (the C loop on CPU when a compiler is present, else the torch scan)
    bk_core_scan  the same through the torch scan (what runs on a GPU)
    bk_core_c64   the torch scan in complex64
    bk_layer      the BK mixing step at width d_model: v_proj (d -> C), BK-Core, out_proj (2C -> d)
    attention     causal softmax self-attention at width d_model: QKV, SDPA, output projection
The two layers do the same job (token mixing at width d_model), so their crossover is the
number to quote. FLOPs and compulsory bytes per op come from engine.models.bk.flops; the
measured points are also registered on the roofline when that module is present.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from engine.hardware.device import synced
from engine.hardware.timing import time_call
from engine.models.attention import SelfAttention
from engine.models.bk import flops, native
from engine.models.bk.function import bk_features
from engine.run import Recorder


class BKMixer(nn.Module):
    """The token-mixing part of a BK layer (no FFN), for a like-for-like timing with attention."""

    def __init__(self, d_model: int, channels: int = 1, causal: bool = True) -> None:
        super().__init__()
        self.v_proj = nn.Linear(d_model, channels)
        self.out_proj = nn.Linear(2 * channels, d_model)
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        v = self.v_proj(x).clamp(-3.0, 3.0).transpose(-1, -2)
        feats = bk_features(-2.0 + v, 1.0, 1j, causal=self.causal)  # (B, C, N, 2)
        feats = feats.permute(0, 2, 1, 3).reshape(*x.shape[:-1], -1)
        out: Tensor = self.out_proj(feats)
        return out


def _step(fn: Callable[[], Tensor], leaf: Tensor) -> Callable[[], None]:
    def run() -> None:
        leaf.grad = None
        fn().sum().backward()
    return run


def _ops(batch: int, n: int, d_model: int, heads: int, channels: int, gen: torch.Generator,
         device: str = "cpu") -> dict[str, Callable[[], None]]:
    """Inputs are drawn on the CPU generator (same numbers on every device), then moved."""
    v = (0.5 * torch.randn(batch * channels, n, generator=gen) - 2.0).to(device).requires_grad_()
    x = torch.randn(batch, n, d_model, generator=gen).to(device).requires_grad_()
    mixer, attn = BKMixer(d_model, channels).to(device), SelfAttention(d_model, heads, causal=True).to(device)
    return {
        "bk_core": _step(lambda: bk_features(v), v),
        "bk_core_scan": _step(lambda: bk_features(v, backend="scan"), v),
        "bk_core_c64": _step(lambda: bk_features(v, precision="complex64"), v),
        "bk_layer": _step(lambda: mixer(x), x),
        "attention": _step(lambda: attn(x), x),
    }


def _slope(ns: list[int], ts: list[float]) -> float:
    """Log-log slope over the upper half of the sizes (the asymptotic exponent)."""
    k = max(2, len(ns) // 2)
    return float(np.polyfit(np.log(ns[-k:]), np.log(ts[-k:]), 1)[0])


def _crossover(ns: list[int], bk: list[float], att: list[float]) -> float:
    """First N where the BK layer beats attention, log-log interpolated (ns[0] if it always does)."""
    r = [math.log(a / b) for a, b in zip(att, bk, strict=True)]
    if r[0] > 0:
        return float(ns[0])
    for i in range(1, len(ns)):
        if r[i] > 0:
            f = -r[i - 1] / (r[i] - r[i - 1])
            return float(math.exp(math.log(ns[i - 1]) + f * (math.log(ns[i]) - math.log(ns[i - 1]))))
    return float("inf")


def _register(name: str, cost: flops.OpCost, seconds: float) -> None:
    try:
        from engine.hardware.roofline import register_op
    except ImportError:
        return
    register_op(name, flops=cost.flops, bytes_moved=cost.bytes, seconds=seconds, source="bk-scaling")


def scaling(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    ns = [int(n) for n in cfg.get("sizes", [32, 64, 128, 256, 512, 1024, 2048, 4096])]
    batch, d_model = int(cfg.get("batch", 8)), int(cfg.get("d_model", 64))
    heads, channels = int(cfg.get("heads", 4)), int(cfg.get("channels", 1))
    min_time = float(cfg.get("min_time_s", 0.2))
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    device = str(cfg.get("device", "cpu"))  # validated by the CLI: cuda only when usable
    times: dict[str, list[float]] = {}
    costs: dict[str, flops.OpCost] = {}
    for step, n in enumerate(ns):
        costs = {
            "bk_core": flops.bk_core_cost(batch * channels, n, real_bytes=4),
            "bk_core_scan": flops.bk_core_cost(batch * channels, n, real_bytes=4),
            "bk_core_c64": flops.bk_core_cost(batch * channels, n, real_bytes=4, complex_bytes=8),
            "bk_layer": flops.bk_layer_cost(batch, n, d_model, channels, causal=True),
            "attention": flops.attention_cost(batch, n, d_model, heads),
        }
        for name, fn in _ops(batch, n, d_model, heads, channels, gen, device).items():
            t = time_call(synced(fn, device), min_time_s=min_time, batches=3).best_s
            times.setdefault(name, []).append(t)
            c = costs[name]
            rec.log(step, n=n, op=name, ms=1e3 * t, gflops=c.flops / t / 1e9, flops=c.flops, bytes=c.bytes,
                    intensity=c.intensity)
        rec.progress(step + 1, len(ns))
    big = ns[-1]
    for name in ("bk_core", "attention", "bk_layer"):
        _register(f"{name} fwd+bwd N={big}", costs[name], times[name][-1])
    at = {n: i for i, n in enumerate(ns)}
    i2048 = at.get(2048, len(ns) - 1)
    out: dict[str, Any] = {
        "max_n": big,
        "crossover_n": _crossover(ns, times["bk_layer"], times["attention"]),
        "crossover_below_range": times["bk_layer"][0] < times["attention"][0],  # then crossover_n = ns[0] is a bound
        "speedup_layer_at_max_n": times["attention"][-1] / times["bk_layer"][-1],
        "speedup_core_at_max_n": times["attention"][-1] / times["bk_core"][-1],
        "speedup_layer_at_2048": times["attention"][i2048] / times["bk_layer"][i2048],
        "speedup_n": ns[i2048],
        "slope_bk_core": _slope(ns, times["bk_core"]),
        "slope_bk_layer": _slope(ns, times["bk_layer"]),
        "slope_attention": _slope(ns, times["attention"]),
        "device": device,
        "backend": "native" if device == "cpu" and native.available() else "scan",
        "c64_over_c128_scan_speedup": times["bk_core_scan"][-1] / times["bk_core_c64"][-1],
        "native_over_scan_speedup": times["bk_core_scan"][-1] / times["bk_core"][-1],
        "flop_ratio_at_max_n": costs["attention"].flops / costs["bk_layer"].flops,
        "bk_core_flops_per_site": flops.BK_FWD + flops.BK_BWD,
        "bk_core_intensity": costs["bk_core"].intensity,
        "bk_layer_intensity": costs["bk_layer"].intensity,
        "attention_intensity": costs["attention"].intensity,
        "attention_flash_intensity": flops.attention_cost(batch, big, d_model, heads, materialized=False).intensity,
        "scan_overhead_at_max_n": flops.scan_overhead(big),
    }
    for name in times:
        out[f"ms_{name}_at_max_n"] = 1e3 * times[name][-1]
    rec.note(f"N={big}: attention {1e3 * times['attention'][-1]:.1f} ms, BK layer {1e3 * times['bk_layer'][-1]:.1f} ms "
             f"({out['speedup_layer_at_max_n']:.1f}x); crossover near N={out['crossover_n']:.0f}")
    return out
