"""Strided cache walks: time per access as the stride grows, and where the curve bends.

`buf[::stride].sum()` touches one element every `stride` elements. While several touched
elements share a 64-byte line, the line's cost is split among them; once stride*itemsize
reaches the line size, every access pays for a whole line and the curve flattens. The bend
(the "elbow") therefore sits at line_bytes / itemsize elements: 16 for float32.
"""

from __future__ import annotations

import numpy as np

from engine.systems.hardware.timing import time_call


def walk(buf: np.ndarray, stride: int, min_time_s: float = 0.05) -> dict[str, float]:
    view = buf[::stride]
    t = time_call(lambda: np.add.reduce(view), min_time_s=min_time_s, batches=7)  # best of 7: robust to bursts
    return {"stride": stride, "accesses": view.size, "seconds": t.best_s, "ns_per_access": t.best_s / view.size * 1e9}


def stride_sweep(nbytes: int, strides: list[int], dtype: type = np.float32,
                 min_time_s: float = 0.05, passes: int = 1) -> list[dict[str, float]]:
    """One row per stride; with passes > 1 the strides are swept repeatedly, interleaved, and the
    fastest pass kept per stride, so a burst of load from another process hits one pass only."""
    buf = np.ones(nbytes // np.dtype(dtype).itemsize, dtype=dtype)
    best: dict[int, dict[str, float]] = {}
    for _ in range(passes):
        for s in strides:
            row = walk(buf, s, min_time_s / passes)
            if s not in best or row["ns_per_access"] < best[s]["ns_per_access"]:
                best[s] = row
    return [best[s] for s in strides]


def elbow_stride(rows: list[dict[str, float]], max_stride: int = 256, level: float = 0.6) -> int:
    """First stride whose cost reaches `level` of the plateau (median of the 3 dearest strides).

    Below the line size the cost per access grows in proportion to the stride (half the
    plateau one octave before the line); from the line on it stays near the plateau. Only
    strides up to `max_stride` count: past a 4 KiB page (1024 float32) TLB misses start a
    second rise that has nothing to do with the line size.
    """
    use = [r for r in rows if r["stride"] <= max_stride]
    plateau = float(np.median(sorted(r["ns_per_access"] for r in use)[-3:]))
    return int(next(r["stride"] for r in use if r["ns_per_access"] >= level * plateau))
