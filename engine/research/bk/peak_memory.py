"""Peak memory of one forward+backward on CPU, measured as resident pages rather than estimated.

The lab's older figure, `saved_bytes` (engine.labs.bk_timing), counts the storages autograd keeps
for the backward: an estimate that leaves out the transient buffers of the forward and of the
backward (temporaries, gradients, the C kernel's scratch) and anything allocated outside torch.
This module reads the kernel's own count instead. On Linux, writing "5" to /proc/self/clear_refs
resets the process's resident-set high-water mark (VmHWM in /proc/self/status) to its current
RSS, so

    peak = VmHWM after the step - VmRSS just before it

is the most physical memory the step added at any moment, whoever allocated it.

Three things would make that number lie, and each is handled:
- memory freed by earlier work but still resident (glibc keeps freed heap, the C kernel keeps a
  pool of output maps) would be reused without raising RSS. The step runs in a fresh worker
  process started with MALLOC_MMAP_THRESHOLD_ = 64 KiB (every larger block is its own map, given
  back to the OS on free) and MALLOC_TRIM_THRESHOLD_ = 0, and before each measured step the
  worker collects garbage, drops the C kernel's pool and calls malloc_trim(0);
- one-time costs (building the C kernel, first-call caches of the BLAS and of torch) are paid by
  one warm-up step before the measurement, so the figure is the steady-state step's;
- a kernel that cannot reset the high-water mark: then no figure is given (None), never the
  process's lifetime peak.
Granularity is the page (4 KiB; more where transparent huge pages back a block).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_TOP_PAD_": "0"}
"""glibc settings for the worker: freed blocks leave the resident set, so RSS before a step is live memory."""


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_high_water_mark() -> bool:
    """Set VmHWM to the current RSS (Linux >= 4.0); False where the kernel does not allow it or ignored it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    hwm, rss = _status_kib("VmHWM"), _status_kib("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 1024  # a few pages may be touched in between


def release_free_memory() -> None:
    """Give freed memory back to the OS: garbage, the C kernel's output pool, glibc's free lists."""
    gc.collect()
    from engine.research.bk import native

    native.release_pool()
    libc = ctypes.util.find_library("c")
    if libc:
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)
        if trim is not None:
            trim(0)


def step_peak(run: Callable[[], None], reset: Callable[[], None] = lambda: None) -> dict[str, float | None]:
    """Peak resident bytes `run()` adds, after one warm-up call; `reset` drops what a call leaves (grads).

    Returns rss_before_mib (what was resident just before the measured call: inputs, weights,
    the interpreter) and peak_mib (VmHWM during the call minus that), None where unmeasurable."""
    run()
    reset()
    release_free_memory()
    before = _status_kib("VmRSS")
    if before is None or not reset_high_water_mark():
        return {"rss_before_mib": None, "peak_mib": None}
    run()
    peak = _status_kib("VmHWM")
    return {"rss_before_mib": before / 1024, "peak_mib": None if peak is None else (peak - before) / 1024}


def measure_in_fresh_process(module: str, points: list[dict[str, Any]], timeout_s: float = 600.0
                             ) -> list[dict[str, Any]] | None:
    """Run `python -m module` (whose main calls `worker_main`) on `points`, one fresh process for them all.

    Each point is measured after the previous one's memory is given back (see release_free_memory),
    so one process serves the whole sweep. None if the worker fails (the figure is then absent)."""
    env = {**os.environ, **WORKER_ENV}
    try:
        proc = subprocess.run([sys.executable, "-m", module], input=json.dumps(points), capture_output=True,
                              text=True, env=env, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    out: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def worker_main(build: Callable[[dict[str, Any]], tuple[Callable[[], None], Callable[[], None]]]) -> None:
    """The worker's loop: points as JSON on stdin, for each `build(point)` -> (run, reset), one JSON list out."""
    points = json.loads(sys.stdin.read())
    results = []
    for point in points:
        run, reset = build(point)
        results.append({**point, **step_peak(run, reset)})
        del run, reset
    print(json.dumps(results))
