"""One timing harness for every probe, so all numbers in a roofline are measured the same way.

`time_call` batches calls until a batch lasts long enough for `perf_counter_ns` to be precise, one
warm-up batch is thrown away, and the best batch is reported (the least disturbed by the OS).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    best_s: float  # seconds per call, best batch
    median_s: float  # seconds per call, median batch
    calls: int  # total timed calls


def time_call(fn: Callable[[], object], min_time_s: float = 0.1, batches: int = 5,
              max_calls: int = 10_000_000) -> Timing:
    """Time `fn()`; the timed batches together last at least `min_time_s`."""
    fn()  # warm-up: page faults, caches, lazy init
    t0 = time.perf_counter_ns()
    fn()
    one = max((time.perf_counter_ns() - t0) * 1e-9, 1e-9)
    per_batch = max(1, min(max_calls // batches, int(min_time_s / batches / one) + 1))
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        per_call = []
        for _ in range(batches):
            t0 = time.perf_counter_ns()
            for _ in range(per_batch):
                fn()
            per_call.append((time.perf_counter_ns() - t0) * 1e-9 / per_batch)
    finally:
        if was_enabled:
            gc.enable()
    return Timing(best_s=min(per_call), median_s=statistics.median(per_call), calls=per_batch * batches)


def interleaved_best_cpu(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Best-of-`repeats` thread CPU seconds for each single-threaded function, timed in alternation.

    For a ratio between two kernels on a shared machine: CPU time leaves out the time the thread
    sat preempted, and alternating the calls lets cache pressure from a busy moment hit every
    contender rather than one of them. (Wall clock let a 1.0x ratio read > 3x at load 10.)
    """
    for fn in fns:
        fn()  # warm-up: page faults, caches
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.thread_time()
            fn()
            best[i] = min(best[i], time.thread_time() - t0)
    return best
