"""Measured peak FLOP/s: the best the machine actually delivers, not the datasheet.

Two probes. The course's `c = a*a + a` on an L1-sized array shows what NumPy elementwise
code reaches (far from peak: each ufunc is a separate pass with its own overhead). The
ceiling used for the roofline is single-precision GEMM through NumPy's BLAS, the kernel
that comes closest to the hardware limit on a CPU; we take the best over a few sizes.
"""

from __future__ import annotations

import numpy as np

from engine.systems.hardware.timing import time_call


def elementwise_gflops(n: int = 2048, min_time_s: float = 0.05) -> float:
    """`a*a + a` in place on n float32 (8 KiB fits L1): 2 FLOPs per element."""
    a = np.random.default_rng(0).random(n, dtype=np.float32)
    c = np.empty_like(a)

    def kernel() -> None:
        np.multiply(a, a, out=c)
        np.add(c, a, out=c)

    return 2 * n / time_call(kernel, min_time_s=min_time_s).best_s / 1e9


def matmul_gflops(n: int, min_time_s: float = 0.2, dtype: type = np.float32) -> dict[str, float]:
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=dtype)
    b = rng.random((n, n), dtype=dtype)
    out = np.empty((n, n), dtype=dtype)
    t = time_call(lambda: np.matmul(a, b, out=out), min_time_s=min_time_s, batches=3)
    flops = 2.0 * n**3
    return {"n": n, "seconds": t.best_s, "gflops": flops / t.best_s / 1e9, "flops": flops,
            "bytes": 3 * n * n * np.dtype(dtype).itemsize}


def measured_peak(sizes: tuple[int, ...] = (512, 1024, 2048), min_time_s: float = 0.2) -> dict[str, object]:
    """Best fp32 GEMM GFLOP/s over `sizes` (and the per-size rows)."""
    rows = [matmul_gflops(n, min_time_s) for n in sizes]
    best = max(rows, key=lambda r: r["gflops"])
    return {"gflops": best["gflops"], "at_n": best["n"], "rows": rows}
