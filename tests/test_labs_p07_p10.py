"""Phase 07-10 extras beyond tests/test_labs.py: full-mode determinism of the main job."""

from __future__ import annotations

from tests import labkit


def test_phase07_full_mode_is_deterministic() -> None:
    (a, _), (b, _) = (labkit.run_fresh("phase-07/lab-02", quick=False) for _ in range(2))
    assert a == b and a["final_loss"] < 0.5 and a["argmax_correct"] == 5
