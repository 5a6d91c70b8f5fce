"""Every ready phase 19-20 lab in quick mode passes its hard checks; every break meets its expectations
and the healthy lab does not show the break's symptom.

Run in-process through tests/labkit.py: planned and checked exactly as `workbench run --quick` does.
"""

from __future__ import annotations

import pytest

from tests import labkit

SLOW = {"phase-19/lab-02"}  # four Mini-GPT trainings and four dashboards: ~30 s
LABS = labkit.targets((19, 20), "lab", slow=SLOW)
BREAKS = labkit.targets((19, 20), "break", slow=SLOW)


@pytest.mark.parametrize("target", LABS)
def test_lab_quick_mode_passes_hard_checks(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []


@pytest.mark.parametrize("target", BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(target: str) -> None:
    assert labkit.failed_hard_checks(target) == []
    assert not all(labkit.symptoms_in_healthy(target)), f"{target}: the healthy lab already shows the symptom"


def test_phase19_training_is_deterministic() -> None:
    from engine.dynamics.loop import train

    a, _ = train({"seed": 3, "steps": 30, "injection": "scale", "injection_step": 10})
    b, _ = train({"seed": 3, "steps": 30, "injection": "scale", "injection_step": 10})
    assert a.train_loss == b.train_loss and a.pre == b.pre and a.stats == b.stats


def test_phase20_refuses_unknown_split() -> None:
    from engine.eval.evaluate import run_eval

    with pytest.raises(ValueError, match="eval_split"):
        run_eval(lambda ids: None, None, [], [], "x", "0", eval_split="test")
