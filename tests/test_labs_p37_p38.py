"""Phase 37 and 38 labs: quick mode passes every hard check, every break meets its expectations,
and the healthy lab shows none of the break's symptoms (run in-process through tests/labkit.py)."""

from __future__ import annotations

import pytest

from tests import labkit

LABS = labkit.targets((37, 38), "lab")
BREAKS = labkit.targets((37, 38), "break")


@pytest.mark.parametrize("target", LABS)
def test_lab_quick_mode_passes_hard_checks(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []


@pytest.mark.parametrize("target", BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []
    assert not any(labkit.symptoms_in_healthy(target)), f"{target}: the healthy lab shows one of the symptoms"
