"""Phase 17, 18, 21 and 22 labs: quick mode passes every hard check, every break meets its
expectations, and the healthy lab shows none of the break's symptoms (checked one by one).

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick` does.
Labs that need the trained Mini-GPT share one cached quick checkpoint.
"""

from __future__ import annotations

import pytest

from tests import labkit

SLOW = {"phase-18/break-00", "phase-21/break-00"}  # retrain / resample
LABS = labkit.targets((17, 18, 21, 22), "lab")
BREAKS = labkit.targets((17, 18, 21, 22), "break", slow=SLOW)


@pytest.mark.parametrize("target", LABS)
def test_lab_quick_mode_passes_hard_checks(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []


@pytest.mark.parametrize("target", BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []
    assert not any(labkit.symptoms_in_healthy(target)), f"{target}: the healthy lab shows one of the symptoms"
