"""The measured peak-memory figure (engine.research.bk.peak_memory) against allocations of known size."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from engine.research.bk import peak_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not peak_memory.reset_high_water_mark(),
                                reason="needs Linux's resettable VmHWM")


def test_step_peak_sees_a_transient_allocation() -> None:
    """A 64 MiB temporary, freed before the step returns, is in the peak; nothing is left resident after it."""
    mib = 64

    def run() -> None:
        t = torch.ones(mib * 2**20 // 8, dtype=torch.float64)
        assert float(t[-1]) == 1.0

    got = peak_memory.step_peak(run)
    assert got["peak_mib"] is not None and mib * 0.95 < got["peak_mib"] < mib * 1.25


def test_worker_measures_sweep_points_in_a_fresh_process() -> None:
    """The bk-scaling worker returns every point with a finite peak; a wider mixer needs more."""
    common = {"batch": 2, "d_model": 16, "heads": 2, "seed": 0, "threads": 1, "n": 512}
    points = [{**common, "op": "attention", "key": "attention"},
              {**common, "op": "layer", "channels": 1, "backend": "scan", "key": "layer c1 scan"},
              {**common, "op": "layer", "channels": 16, "backend": "scan", "key": "layer c16 scan"}]
    got = peak_memory.measure_in_fresh_process("engine.labs.bk_memory", points, timeout_s=300)
    assert got is not None and [p["key"] for p in got] == [p["key"] for p in points]
    peaks = {p["key"]: p["peak_mib"] for p in got}
    assert all(v is not None and math.isfinite(v) and v > 0 for v in peaks.values())
    assert peaks["layer c16 scan"] > peaks["layer c1 scan"]
