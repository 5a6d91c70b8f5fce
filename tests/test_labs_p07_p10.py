"""Every phase 07-10 lab in quick mode passes its hard checks; every break meets its expectations and the healthy lab does not show it.

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick` does.
"""

from __future__ import annotations

import pytest

from tests import labkit

LABS = labkit.targets((7, 8, 9, 10), "lab")
BREAKS = labkit.targets((7, 8, 9, 10), "break")


@pytest.mark.parametrize("target", LABS)
def test_lab_quick_mode_passes_hard_checks(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []


@pytest.mark.parametrize("target", BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []
    assert not all(labkit.symptoms_in_healthy(target)), f"{target}: the healthy lab already shows the symptom"


def test_phase07_full_mode_is_deterministic() -> None:
    (a, _), (b, _) = (labkit.run_fresh("phase-07/lab-02", quick=False) for _ in range(2))
    assert a == b and a["final_loss"] < 0.5 and a["argmax_correct"] == 5
