"""Learning-rate schedules as plain functions `step -> lr` (step counts from 0).

constant; step decay (x gamma every `step_size`); cosine from base to min_lr over `total`
steps (torch's CosineAnnealingLR closed form); warmup-cosine (linear warmup from 0, then
cosine); WSD: warmup, a stable plateau at base, then a linear decay to min_lr.
Apply with `set_lr(optimizer, schedule(step))` before each step. `lr_at(step, ...)` is the
phase-18 training loop's warmup-cosine (warmup from lr 0) as a plain function of the step.

The one home of learning-rate schedules: engine.lm.train.optim re-exports `lr_at`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int], float]


def constant(base: float) -> Schedule:
    return lambda step: base


def step_decay(base: float, step_size: int, gamma: float = 0.1) -> Schedule:
    return lambda step: base * gamma ** (step // step_size)


def cosine(base: float, total: int, min_lr: float = 0.0) -> Schedule:
    def f(step: int) -> float:
        s = min(step, total)
        return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * s / total))

    return f


def warmup_cosine(base: float, warmup: int, total: int, min_lr: float = 0.0) -> Schedule:
    cos = cosine(base, max(total - warmup, 1), min_lr)

    def f(step: int) -> float:
        if step < warmup:
            return base * (step + 1) / warmup
        return cos(step - warmup)

    return f


def lr_at(step: int, lr_max: float, lr_min: float, warmup: int, total: int) -> float:
    """The phase-18 recipe at one step: warmup from 0 (lr_max x step / warmup, so step 25 of 100
    gives a quarter), then cosine from lr_max to lr_min at step `total`, held after. It equals
    `warmup_cosine` after the warmup; only the warmup's first step differs (0 here, base/W there)."""
    if warmup > 0 and step < warmup:
        return lr_max * step / warmup
    if step >= total:
        return lr_min
    frac = (step - warmup) / max(total - warmup, 1)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * frac))


def wsd(base: float, warmup: int, stable: int, decay: int, min_lr: float = 0.0) -> Schedule:
    """Warmup-Stable-Decay: linear up over `warmup`, flat for `stable`, linear down over `decay`."""

    def f(step: int) -> float:
        if step < warmup:
            return base * (step + 1) / warmup
        if step < warmup + stable:
            return base
        frac = min((step - warmup - stable) / max(decay, 1), 1.0)
        return base + (min_lr - base) * frac

    return f


def set_lr(optimizer: object, lr: float) -> None:
    optimizer.lr = lr  # type: ignore[attr-defined]
