"""Phases 26, 28 and 29: each ready lab's quick mode passes its hard checks; each break is detected.

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick` does.
"""

from __future__ import annotations

import pytest

from tests import labkit

LABS = labkit.targets((26, 28, 29), "lab", slow={"phase-26/lab-01", "phase-26/lab-02", "phase-28/lab-02", "phase-28/lab-03"})
BREAKS = labkit.targets((26, 28, 29), "break", slow={"phase-26/lab-01", "phase-26/lab-02", "phase-28/lab-02", "phase-28/lab-03"})


@pytest.mark.parametrize("target", LABS)
def test_lab_quick_mode_passes_hard_checks(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []


@pytest.mark.parametrize("target", BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []
    assert not all(labkit.symptoms_in_healthy(target)), f"{target}: the healthy lab already shows the symptom"
