"""Timing and memory helpers for the BK experiments: interleaved rounds, saved bytes, copy bandwidth.

On a shared machine the background load drifts within seconds, so timing a baseline and a
candidate one after the other compares two different machines. `interleaved` times every
callable once per round, round after round, and reports each one's median over the rounds:
a ratio of two medians from the same rounds saw the same load.

Peak memory of a forward+backward on CPU is not observable from torch without a profiler,
so `saved_bytes` reports the bytes autograd saves for the backward pass (the activation
memory that grows with N), counted once per storage; on CUDA the allocator's peak is used.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import torch

CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}


def _batch_time(fn: Callable[[], object], calls: int, clock: str = "wall") -> float:
    now = CLOCKS[clock]
    t0 = now()
    for _ in range(calls):
        fn()
    return (now() - t0) * 1e-9 / calls


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, min_batch_s: float,
                clock: str = "wall") -> dict[str, float]:
    """Median seconds per call of each fn; the fns take turns, one batch each per round.

    clock="cpu" reads the process's CPU time (all its threads, user + system, page faults
    included) instead of the wall clock. On the 2-core VM at load average ~20 a process runs a
    fraction of each second, so wall-clock ratios of two CPU-bound ops mostly measure the
    scheduler (measured: two BK kernels whose CPU times differ by 1.4x timed equal on the wall).
    With one torch thread CPU time is the op's latency when it is not descheduled; with more it
    is their sum (the cost, not the latency). Wall is the only choice for asynchronous devices.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    calls = {}
    for name, fn in fns.items():
        fn()  # warm-up
        one = max(_batch_time(fn, 1, clock), 1e-7)
        calls[name] = max(1, int(min_batch_s / one))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in fns.items():
                samples[name].append(_batch_time(fn, calls[name], clock))
    finally:
        if was_enabled:
            gc.enable()
    return {name: statistics.median(s) for name, s in samples.items()}


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes autograd keeps for the backward of `fn()` (distinct storages), on any device."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def copy_fn(mebibytes: int, device: str = "cpu") -> tuple[Callable[[], object], int]:
    """A tensor copy of `mebibytes` (read + write) and its bytes moved: the bandwidth yardstick."""
    src = torch.ones(mebibytes * 2**20 // 8, dtype=torch.float64, device=device)
    dst = torch.empty_like(src)
    return (lambda: dst.copy_(src)), 2 * src.numel() * 8
