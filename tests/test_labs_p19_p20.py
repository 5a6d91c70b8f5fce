"""Phase 19-20 extras beyond tests/test_labs.py: training determinism and split validation."""

from __future__ import annotations

import pytest


def test_phase19_training_is_deterministic() -> None:
    from engine.lm.dynamics.loop import train

    a, _ = train({"seed": 3, "steps": 30, "injection": "scale", "injection_step": 10})
    b, _ = train({"seed": 3, "steps": 30, "injection": "scale", "injection_step": 10})
    assert a.train_loss == b.train_loss and a.pre == b.pre and a.stats == b.stats


def test_phase20_refuses_unknown_split() -> None:
    from engine.lm.eval.evaluate import run_eval

    with pytest.raises(ValueError, match="eval_split"):
        run_eval(lambda ids: None, None, [], [], "x", "0", eval_split="test")
