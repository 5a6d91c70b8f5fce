"""The phase-18 `lr_at` is the schedules module's warmup-cosine, not a second copy: same numbers
as the closed form written out independently, for both warmup conventions (lr_at's from 0,
warmup_cosine's from base / warmup)."""

from __future__ import annotations

import math

from engine.lm.train import optim as train_optim
from engine.scratch.optim import schedules as S


def _closed_form(step: int, lr_max: float, lr_min: float, warmup: int, total: int, from_zero: bool) -> float:
    if warmup > 0 and step < warmup:
        return lr_max * (step if from_zero else step + 1) / warmup
    if step >= total:
        return lr_min
    frac = (step - warmup) / max(total - warmup, 1)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * frac))


def test_lr_at_is_the_schedules_function() -> None:
    assert train_optim.lr_at is S.lr_at


def test_warmup_cosine_matches_closed_form_both_conventions() -> None:
    for warmup, total in ((100, 2000), (0, 50), (7, 8), (10, 10)):
        for from_zero in (False, True):
            if from_zero:
                f = lambda s, w=warmup, t=total: S.lr_at(s, 3e-4, 3e-5, w, t)  # noqa: E731
            elif warmup < total:  # warmup_cosine is defined for a cosine of at least one step
                f = S.warmup_cosine(3e-4, warmup, total, 3e-5)
            else:
                continue
            for step in list(range(0, total + 20, 3)) + [warmup, total, 5 * total]:
                want = _closed_form(step, 3e-4, 3e-5, warmup, total, from_zero)
                assert math.isclose(f(step), want, rel_tol=1e-12, abs_tol=1e-18), (warmup, total, from_zero, step)
    assert S.lr_at(5000, 3e-4, 3e-5, 100, 2000) == 3e-5
    assert S.lr_at(0, 3e-4, 3e-5, 100, 2000) == 0.0
