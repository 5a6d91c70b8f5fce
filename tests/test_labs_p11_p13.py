"""Every ready phase 11-13 lab in quick mode passes its hard checks; every break meets its expectations
and the healthy lab does not show the break's symptom.

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick` does.
"""

from __future__ import annotations

from tests import labkit


def test_phase11_results_are_deterministic() -> None:
    assert labkit.run_fresh("phase-11/lab-02")[0] == labkit.outcome("phase-11/lab-02")[0]
