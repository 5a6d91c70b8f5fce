"""Roofline probes against independent baselines measured in the same run.

1. Bandwidth: the roofline's DRAM probe (np.copyto sweep, best rate at >= 4x LLC) against a
   STREAM-style triad a = b + s*c, run as one fused pass through torch (3 arrays counted,
   as STREAM does). Target: within 30 %.
2. Peak: the roofline's measured peak (best fp32 GEMM over N = 512, 1024, 2048) against
   NumPy's best np.matmul at N = 2048 timed here with timeit. Target: within 20 %.

Run: .venv/bin/python benchmarks/bench_roofline.py
"""

from __future__ import annotations

import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engine.systems.hardware import bandwidth, peak  # noqa: E402
from engine.systems.hardware.profile import last_level_cache_bytes, machine_profile  # noqa: E402


def stream_triad_gbs(n: int, reps: int = 10) -> tuple[float, str]:
    try:
        import torch

        a, b, c = torch.empty(n), torch.ones(n), torch.ones(n)
        t = min(timeit.repeat(lambda: torch.add(b, c, alpha=3.0, out=a), number=1, repeat=reps))
        return 12.0 * n / t / 1e9, f"torch fused triad ({torch.get_num_threads()} threads)"
    except ImportError:  # two NumPy passes: c*s -> a, a+b -> a moves 5 arrays' worth
        a, b, c = np.empty(n, np.float32), np.ones(n, np.float32), np.ones(n, np.float32)

        def triad() -> None:
            np.multiply(c, np.float32(3.0), out=a)
            np.add(a, b, out=a)

        t = min(timeit.repeat(triad, number=1, repeat=reps))
        return 20.0 * n / t / 1e9, "numpy two-pass triad"


def main() -> int:
    prof = machine_profile()
    llc = last_level_cache_bytes(prof)
    top = bandwidth.ram_safe_max_bytes(prof.get("ram_available_gb"))
    sizes = [s for s in bandwidth.size_grid(4 * llc, top) if s >= 4 * llc] or [top]
    rows = bandwidth.sweep(sizes, min_time_s=0.2)
    probe = bandwidth.dram_bandwidth(rows, llc)
    triad, how = stream_triad_gbs(top // 4)
    bw_ratio = probe / triad
    print(f"threads: OMP={os.environ.get('OMP_NUM_THREADS', 'unset')}  cpu={prof['cpu_model']}")
    print(f"bandwidth probe   {probe:8.2f} GB/s  (copy, best of {[s >> 20 for s in sizes]} MiB)")
    print(f"STREAM triad      {triad:8.2f} GB/s  ({how}, {top >> 20} MiB arrays)")
    print(f"ratio probe/triad {bw_ratio:8.3f}   target 0.70-1.30  {'PASS' if 0.7 <= bw_ratio <= 1.3 else 'FAIL'}")

    pk = peak.measured_peak((512, 1024, 2048), min_time_s=0.5)
    n = 2048
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    np.matmul(a, b)
    best = min(timeit.repeat(lambda: np.matmul(a, b), number=1, repeat=10))
    numpy_gflops = 2 * n**3 / best / 1e9
    pk_ratio = pk["gflops"] / numpy_gflops
    print(f"measured peak     {pk['gflops']:8.1f} GFLOP/s (best GEMM, at N={pk['at_n']})")
    print(f"np.matmul N=2048  {numpy_gflops:8.1f} GFLOP/s (best of 10, timeit)")
    print(f"ratio peak/numpy  {pk_ratio:8.3f}   target 0.80-1.20  {'PASS' if 0.8 <= pk_ratio <= 1.2 else 'FAIL'}")
    return 0 if (0.7 <= bw_ratio <= 1.3 and 0.8 <= pk_ratio <= 1.2) else 1


if __name__ == "__main__":
    raise SystemExit(main())
