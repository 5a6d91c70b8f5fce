"""Timing of the INT8 kernel path against FP32, measured in the same process and the same thread count.

Each measurement is the median of `repeats` timed calls after `warmup` untimed ones, so the
ratio (FP32 time / INT8 time: above 1 means INT8 is faster) is what to compare across machines,
not the absolute milliseconds. Used by benchmarks/bench_int8.py and phase 26's lab.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from engine.torchstack.quant.int8_kernel import Int8DynamicLinear, int8_dynamic_model


def median_seconds(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> float:
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def linear_speed(n: int, rows: int = 32, repeats: int = 20, seed: int = 0) -> dict[str, float]:
    """One n x n Linear on a (rows, n) batch: FP32 nn.Linear vs Int8DynamicLinear."""
    gen = torch.Generator().manual_seed(seed)
    lin = nn.Linear(n, n)
    x = torch.randn(rows, n, generator=gen)
    q = Int8DynamicLinear(lin)
    fp = median_seconds(lambda: lin(x), repeats)
    i8 = median_seconds(lambda: q(x), repeats)
    with torch.no_grad():
        rel = float((q(x) - q.weight_only_reference(x)).norm() / q.weight_only_reference(x).norm())
    return {"n": n, "rows": rows, "fp32_ms": 1e3 * fp, "int8_ms": 1e3 * i8, "speedup": fp / i8,
            "rel_err_vs_weight_only": rel}


def model_speed(model: nn.Module, x: torch.Tensor, repeats: int = 10) -> dict[str, float]:
    """A whole forward pass, FP32 vs every Linear on the INT8 kernel (same input)."""
    model = model.float().cpu().eval()
    q = int8_dynamic_model(model)
    fp = median_seconds(lambda: model(x), repeats)
    i8 = median_seconds(lambda: q(x), repeats)
    return {"fp32_ms": 1e3 * fp, "int8_ms": 1e3 * i8, "speedup": fp / i8}
