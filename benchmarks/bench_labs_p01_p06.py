"""Wall time of every phase 01-06 lab in quick and full mode (targets: quick < 20 s, full < 180 s).

Labs run in-process with a MemoryRecorder, one after another; pass --quick-only to skip full
mode. Prints one line per lab and mode, and exits 1 if any lab misses its target.

Run: .venv/bin/python benchmarks/bench_labs_p01_p06.py [--quick-only]
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.run import MemoryRecorder  # noqa: E402
from workbench.content import load_catalog  # noqa: E402

TARGET = {"quick": 20.0, "full": 180.0}


def main() -> int:
    modes = ["quick"] if "--quick-only" in sys.argv else ["quick", "full"]
    catalog = load_catalog()
    bad = 0
    for mode in modes:
        for n in range(1, 7):
            phase = catalog.phase(n)
            for lab in phase.labs:
                module, fn = lab.entry.split(":")
                cfg = {**lab.config, **(lab.quick if mode == "quick" else {}), "seed": 42, "fault": None,
                       "quick": mode == "quick", "device": "cpu"}
                t0 = time.perf_counter()
                getattr(importlib.import_module(module), fn)(cfg, MemoryRecorder())
                dt = time.perf_counter() - t0
                ok = dt < TARGET[mode]
                bad += not ok
                print(f"{mode:5s} phase-{n:02d}/{lab.id}  {dt:7.2f} s  (target < {TARGET[mode]:.0f} s)  {'PASS' if ok else 'FAIL'}",
                      flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
