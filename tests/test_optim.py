"""Optimizers against torch.optim step by step (fp64, 1e-10), and schedules against closed forms / torch."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn import Parameter
from engine.scratch.optim import SGD, Adam, AdamW, constant, cosine, step_decay, warmup_cosine, wsd

torch = pytest.importorskip("torch")


def _race(make_ours, make_theirs, steps: int = 100) -> float:
    """Same quadratic-plus-quartic loss in both frameworks; max |param difference| over all steps."""
    rng = np.random.default_rng(3)
    p0, target = rng.normal(size=5), rng.normal(size=5)
    p = Parameter(p0.copy())
    tp = torch.tensor(p0.copy(), requires_grad=True)
    opt, topt = make_ours([p]), make_theirs([tp])
    worst = 0.0
    for _ in range(steps):
        opt.zero_grad()
        d = p - Tensor(target)
        ((d * d).sum() + (d**4).sum() * 0.1).backward()
        opt.step()
        topt.zero_grad()
        td = tp - torch.tensor(target)
        ((td * td).sum() + (td**4).sum() * 0.1).backward()
        topt.step()
        worst = max(worst, float(np.abs(p.data - tp.detach().numpy()).max()))
    return worst


CASES = {
    "sgd": (lambda ps: SGD(ps, lr=0.05), lambda ps: torch.optim.SGD(ps, lr=0.05)),
    "momentum": (lambda ps: SGD(ps, lr=0.02, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9)),
    "dampened": (lambda ps: SGD(ps, lr=0.02, momentum=0.9, dampening=0.9),
                 lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9, dampening=0.9)),
    "nesterov_wd": (lambda ps: SGD(ps, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1),
                    lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "adam": (lambda ps: Adam(ps, lr=1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    "adam_l2": (lambda ps: Adam(ps, lr=1e-2, weight_decay=0.1), lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.1)),
    "adamw": (lambda ps: AdamW(ps, lr=1e-2, weight_decay=0.1), lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_step_by_step(name: str) -> None:
    assert _race(*CASES[name]) < 1e-10


def test_course_optimizer_checks() -> None:
    p = Parameter(np.array([1.0]))
    opt = Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    assert abs(p.data[0] - 0.9) < 1e-6  # Adam's first step moves by lr
    q = Parameter(np.array([0.0]))
    opt = SGD([q], lr=0.1)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = ((q - 3.0) ** 2).sum()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    assert abs(q.data[0] - 3) < 1e-3 and all(b <= a for a, b in zip(losses, losses[1:], strict=False))
    # a None grad is skipped; state is per parameter
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = Adam([a, b], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    assert np.array_equal(b.data, np.ones(2)) and id(b) not in opt.state


def test_schedules() -> None:
    assert [constant(0.1)(s) for s in (0, 50)] == [0.1, 0.1]
    p = torch.nn.Parameter(torch.zeros(1))
    for ours, make in [
        (step_decay(1.0, 10, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 10, 0.5)),
        (cosine(1.0, 50, 0.1), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 50, eta_min=0.1)),
    ]:
        opt = torch.optim.SGD([p], lr=1.0)
        sched = make(opt)
        for step in range(50):
            assert ours(step) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-12)
            opt.step()
            sched.step()
    wc = warmup_cosine(1.0, 10, 110)
    assert wc(0) == pytest.approx(0.1) and wc(9) == pytest.approx(1.0) and wc(10) == pytest.approx(1.0)
    assert wc(110) == pytest.approx(0.0, abs=1e-12) and wc(60) == pytest.approx(0.5)
    f = wsd(1.0, warmup=10, stable=80, decay=10, min_lr=0.1)
    assert f(50) == 1.0 and f(89) == 1.0 and f(95) == pytest.approx(0.55) and f(200) == pytest.approx(0.1)
