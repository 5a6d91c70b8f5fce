"""The matmul speed ladder: GFLOP/s of each multiplication method at each N, best of timed batches.

Phase 03 lab 01 times engine.scratch.linalg.matmul's four methods on the same random N x N inputs.
The pure-Python triple loop is cubic, so above `naive_max_n` it is not run: its time is extrapolated
from the largest measured N with T(N) = T(N0) (N / N0)^3 (its per-op speed is flat), and the point is
marked as extrapolated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.scratch.linalg.matmul import matmul_flops
from engine.systems.hardware.timing import time_call

Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Ladder:
    """gflops[method][n], and the sizes where the naive figure is extrapolated."""

    gflops: dict[str, dict[int, float]]
    extrapolated: list[int] = field(default_factory=list)


def speed_ladder(methods: dict[str, Method], sizes: list[int], rng: np.random.Generator, *, naive_max_n: int,
                 min_time_s: float, on_point: Callable[[int, str, float, bool], None] | None = None,
                 on_size: Callable[[int], None] | None = None) -> Ladder:
    """Time every method at every N (in the order given). `on_point(n, method, gflops, extrapolated)`
    after each point, `on_size(i)` after each size. The naive method runs once (no minimum time); the
    others are the best of 3 batches of at least `min_time_s`."""
    ladder = Ladder({m: {} for m in methods})
    for i, n in enumerate(sizes):
        x = rng.random((n, n), dtype=np.float32)
        y = rng.random((n, n), dtype=np.float32)
        for m, fn in methods.items():
            guessed = m == "naive" and n > naive_max_n
            if guessed:
                prev = max(k for k in ladder.gflops[m] if k < n)
                seconds = matmul_flops(prev) / (ladder.gflops[m][prev] * 1e9) * (n / prev) ** 3
                ladder.extrapolated.append(n)
            else:
                seconds = time_call(lambda fn=fn, x=x, y=y: fn(x, y), min_time_s=0.0 if m == "naive" else min_time_s,
                                    batches=1 if m == "naive" else 3).best_s
            ladder.gflops[m][n] = matmul_flops(n) / seconds / 1e9
            if on_point is not None:
                on_point(n, m, ladder.gflops[m][n], guessed)
        if on_size is not None:
            on_size(i)
    return ladder
