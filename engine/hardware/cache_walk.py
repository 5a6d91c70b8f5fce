"""Strided cache walks: time per access as the stride grows, and where the curve bends.

`buf[::stride].sum()` touches one element every `stride` elements. While several touched
elements share a 64-byte line, the line's cost is split among them; once stride*itemsize
reaches the line size, every access pays for a whole line and the curve flattens. The bend
(the "elbow") therefore sits at line_bytes / itemsize elements: 16 for float32.
"""

from __future__ import annotations

import math

import numpy as np

from engine.hardware.timing import time_call


def walk(buf: np.ndarray, stride: int, min_time_s: float = 0.05) -> dict[str, float]:
    view = buf[::stride]
    t = time_call(lambda: np.add.reduce(view), min_time_s=min_time_s, batches=3)
    return {"stride": stride, "accesses": view.size, "seconds": t.best_s, "ns_per_access": t.best_s / view.size * 1e9}


def stride_sweep(nbytes: int, strides: list[int], dtype: type = np.float32,
                 min_time_s: float = 0.05) -> list[dict[str, float]]:
    buf = np.ones(nbytes // np.dtype(dtype).itemsize, dtype=dtype)
    return [walk(buf, s, min_time_s) for s in strides]


def elbow_stride(rows: list[dict[str, float]], max_stride: int = 256) -> int:
    """Stride where the log-log slope drops most (largest negative change of slope).

    Only strides up to `max_stride` are used: past a 4 KiB page (1024 float32) TLB misses
    start a second rise that has nothing to do with the line size.
    """
    pts = [(math.log2(r["stride"]), math.log2(r["ns_per_access"])) for r in rows if r["stride"] <= max_stride]
    slopes = [(pts[i + 1][1] - pts[i][1]) / (pts[i + 1][0] - pts[i][0]) for i in range(len(pts) - 1)]
    drops = [slopes[i - 1] - slopes[i] for i in range(1, len(slopes))]
    best = int(np.argmax(drops)) + 1
    return int(round(2 ** pts[best][0]))
