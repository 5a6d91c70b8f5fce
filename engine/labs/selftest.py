"""Synthetic labs that exercise the runner itself: empty, crash, hang, metric stream.

They are real labs in every sense the runner cares about (a subprocess, a recorder,
checks), which is what the runner's tests and benchmarks need; no curriculum content.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from engine.core.run import Recorder


def empty(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    return {"ok": True}


def crash(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    for step in range(int(cfg["steps_before"])):
        rec.log(step, loss=1.0 / (step + 1))
    raise RuntimeError("selftest crash: the lab raised on purpose")


def sleep(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Logs a point every `interval` seconds for `seconds` — for timeout and cancel tests."""
    seconds, interval = float(cfg["seconds"]), float(cfg["interval"])
    steps = int(seconds / interval)
    for step in range(steps):
        rec.log(step, loss=math.exp(-step / 50), pid=os.getpid())
        time.sleep(interval)
    return {"steps": steps}


def stream(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Emits `rate` metric events a second for `seconds`: a synthetic training curve."""
    rate, seconds = float(cfg["rate"]), float(cfg["seconds"])
    n = int(rate * seconds)
    start = time.perf_counter()
    for step in range(n):
        rec.log(step, loss=2.0 * math.exp(-step / (n / 4)) + 0.05 * math.sin(step / 7), acc=1 - math.exp(-step / (n / 3)))
        if step % 20 == 0:
            rec.progress(step, n)
        wait = start + (step + 1) / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    return {"final_loss": 2.0 * math.exp(-4.0), "events": n}


def flag(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Reports which fault is on: a lab whose break the runner must judge (detected, missed, healthy shows it)."""
    rec.log(0, level=1.0)
    return {"broken": cfg["fault"] == "flip", "level": 1.0}


def stubborn(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Ignores SIGINT and logs until killed: the case a second Ctrl-C (or the grace period) must end."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for step in range(int(float(cfg["seconds"]) / 0.05)):
        rec.log(step, loss=1.0, pid=os.getpid())
        time.sleep(0.05)
    return {"ok": True}
