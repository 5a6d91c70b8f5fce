"""Every phase 07-10 lab in quick mode passes its hard checks; every break meets its expectations and the healthy lab does not show it.

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick` does.
"""

from __future__ import annotations

from tests import labkit


def test_phase07_full_mode_is_deterministic() -> None:
    (a, _), (b, _) = (labkit.run_fresh("phase-07/lab-02", quick=False) for _ in range(2))
    assert a == b and a["final_loss"] < 0.5 and a["argmax_correct"] == 5
