"""Memory bandwidth vs buffer size, with `np.copyto` on float32 (the course's probe).

A copy reads N*4 bytes and writes N*4 bytes; we count 8N bytes per call, as STREAM does
(write-allocate traffic is not counted). Sizes run on a log grid from 1 KiB up to a maximum
that leaves most of RAM free, so the probe cannot push a small machine into swap/OOM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.systems.hardware.timing import time_call

KIB = 1024


def ram_safe_max_bytes(available_gb: float | None, cap_bytes: int = 1024**3) -> int:
    """Largest buffer (per array; the copy needs two) using at most 1/8 of available RAM."""
    if not available_gb:
        return 256 * 1024**2
    budget = int(available_gb * 1024**3 / 8)
    top = 1 << (max(budget, 1 << 20).bit_length() - 1)  # round down to a power of two
    return min(cap_bytes, top)


def size_grid(min_bytes: int, max_bytes: int, factor: int = 2) -> list[int]:
    sizes, s = [], min_bytes
    while s <= max_bytes:
        sizes.append(s)
        s *= factor
    return sizes


def copy_bandwidth(nbytes: int, min_time_s: float = 0.1) -> dict[str, float]:
    """GB/s of `np.copyto(dst, src)` for one buffer size."""
    n = max(1, nbytes // 4)
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    t = time_call(lambda: np.copyto(dst, src), min_time_s=min_time_s)
    moved = 8 * n
    return {"bytes": 4 * n, "seconds": t.best_s, "calls": t.calls, "gbs": moved / t.best_s / 1e9,
            "gbs_median": moved / t.median_s / 1e9}


def sweep(sizes: list[int], min_time_s: float = 0.1, on_point: Any = None) -> list[dict[str, float]]:
    """copy_bandwidth for each size; `on_point(i, row)` is called as points arrive."""
    rows = []
    for i, s in enumerate(sizes):
        row = copy_bandwidth(s, min_time_s)
        rows.append(row)
        if on_point:
            on_point(i, row)
    return rows


def dram_bandwidth(rows: list[dict[str, float]], llc_bytes: int) -> float:
    """The DRAM ceiling: best copy rate among buffers at least 4x the last-level cache.

    The best (not the mean) is the ceiling a kernel can reach; on glibc large copies switch to
    non-temporal stores, which is why the rate can rise again past ~8x LLC.
    """
    big = [r["gbs"] for r in rows if r["bytes"] >= 4 * llc_bytes]
    if not big:
        big = [rows[-1]["gbs"]]
    return float(max(big))


def plateau(rows: list[dict[str, float]], lo: int, hi: int) -> float | None:
    """Median copy rate for buffers in [lo, hi) bytes, or None if no point falls there."""
    vals = [r["gbs"] for r in rows if lo <= r["bytes"] < hi]
    return float(np.median(vals)) if vals else None
