"""Wall time of every phase 01-06 lab in quick and full mode (targets: quick < 20 s, full < 180 s).

Labs run in-process through workbench.runner.call.call_lab (the same config, seeding and strict
config as `workbench run`), one after another; pass --quick-only to skip full mode. Prints one line per lab and mode, and exits 1 if any lab misses its target.

Run: .venv/bin/python benchmarks/bench_labs_p01_p06.py [--quick-only]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.content import load_catalog  # noqa: E402
from workbench.runner.call import call_lab  # noqa: E402

TARGET = {"quick": 20.0, "full": 180.0}


def main() -> int:
    modes = ["quick"] if "--quick-only" in sys.argv else ["quick", "full"]
    catalog = load_catalog()
    bad = 0
    for mode in modes:
        for n in range(1, 7):
            phase = catalog.phase(n)
            for lab in phase.labs:
                t0 = time.perf_counter()
                call_lab(f"{phase.key}/{lab.id}", catalog=catalog, quick=mode == "quick")
                dt = time.perf_counter() - t0
                ok = dt < TARGET[mode]
                bad += not ok
                print(f"{mode:5s} phase-{n:02d}/{lab.id}  {dt:7.2f} s  (target < {TARGET[mode]:.0f} s)  {'PASS' if ok else 'FAIL'}",
                      flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
