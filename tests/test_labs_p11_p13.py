"""Every ready phase 11-13 lab in quick mode passes its hard checks; every break meets its expectations
and the healthy lab does not show the break's symptom.

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick` does.
"""

from __future__ import annotations

import pytest

from tests import labkit

LABS = labkit.targets((11, 12, 13), "lab")
BREAKS = labkit.targets((11, 12, 13), "break")


@pytest.mark.parametrize("target", LABS)
def test_lab_quick_mode_passes_hard_checks(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []


@pytest.mark.parametrize("target", BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []
    assert not all(labkit.symptoms_in_healthy(target)), f"{target}: the healthy lab already shows the symptom"


def test_phase11_results_are_deterministic() -> None:
    assert labkit.run_fresh("phase-11/lab-02")[0] == labkit.outcome("phase-11/lab-02")[0]
