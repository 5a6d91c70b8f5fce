"""Jacobians vs finite differences, pure optimizer steps, Rosenbrock, and the course's schedule tests."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scratch.calculus import jacobian as J
from engine.scratch.calculus import optim_steps as O
from engine.scratch.optim import schedules as S

Z = np.array([2.0, 1.0, 0.5, -1.0, 0.0])


def test_softmax_jacobian_and_ce_grad() -> None:
    jac = J.softmax_jacobian(Z)
    assert np.max(np.abs(jac - J.softmax_jacobian_fd(Z))) < 1e-7
    assert np.allclose(jac, jac.T) and np.allclose(jac.sum(axis=1), 0)
    for y in range(5):
        assert np.max(np.abs(J.ce_grad(Z, y) - J.ce_grad_fd(Z, y))) < 1e-7


def test_mlp_jacobian() -> None:
    rng = np.random.default_rng(3)
    x, w1, b1, w2, b2 = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((2, 4)), rng.standard_normal(2)
    ana = J.analytical_jacobian_w1(x, w1, b1, w2, b2)
    assert ana.shape == (2, 12)
    assert np.max(np.abs(ana - J.numerical_jacobian_w1(x, w1, b1, w2, b2))) < 1e-7


def test_rosenbrock_grad_matches_fd() -> None:
    for p in ([-1.5, 2.0], [0.3, -0.7], [1.0, 1.0]):
        p = np.array(p)
        fd = J.numerical_jacobian(lambda v: np.array([O.rosenbrock(v)]), p)[0]
        assert np.allclose(O.rosenbrock_grad(p), fd, atol=1e-5)
    assert O.rosenbrock(np.array([1.0, 1.0])) == 0.0


def test_adam_worked_example() -> None:
    # L = theta^2, lr 0.1, from 1.0: theta_1 = 0.9 and theta_2 about 0.8004 (course theory)
    p, s = np.array([1.0]), {}
    p, s = O.adam_step(p, 2 * p, s, 0.1)
    assert p[0] == pytest.approx(0.9, abs=1e-6)
    p, s = O.adam_step(p, 2 * p, s, 0.1)
    assert p[0] == pytest.approx(0.8004, abs=1e-3)
    assert s["t"] == 2


def test_steps_are_pure_and_adamw_without_decay_is_adam() -> None:
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    state = {"v": np.zeros(2)}
    new, st = O.momentum_step(p, g, state, 0.1)
    assert np.array_equal(p, [1.0, -2.0]) and np.array_equal(state["v"], [0, 0])  # nothing mutated
    assert np.allclose(new, p - 0.1 * g) and np.allclose(st["v"], g)
    a = O.run(O.adam_step, 5e-2, 300)
    w = O.run(O.adamw_step, 5e-2, 300, weight_decay=0.0)
    assert np.array_equal(a["path"], w["path"])


def test_momentum_beats_sgd_on_rosenbrock() -> None:
    m = O.run(O.momentum_step, 1e-3, 1000, (-1.5, 1.5), beta=0.9)
    s = O.run(O.momentum_step, 1e-3, 1000, (-1.5, 1.5), beta=0.0)
    assert m["loss"][1000] < 0.01 < 0.5 < s["loss"][1000]


def test_constant_is_constant() -> None:
    f = S.constant(1.0)
    assert {f(t) for t in range(0, 10000, 97)} == {1.0}


def test_warmup_starts_at_zero() -> None:
    assert S.warmup_cosine(1.0, 500, 10000)(0) <= 0.01


def test_warmup_ends_at_peak() -> None:
    f = S.warmup_cosine(1.0, 500, 10000)
    assert f(499) == pytest.approx(1.0) and f(500) == pytest.approx(1.0)


def test_cosine_ends_at_eta_min() -> None:
    assert S.cosine(1.0, 10000, 0.05)(10000) == pytest.approx(0.05)


def test_step_decay_drops() -> None:
    f = S.step_decay(1.0, 1000, 0.1)
    assert f(999) == 1.0 and f(1000) == pytest.approx(0.1)


def test_wsd_three_phases() -> None:
    f = S.wsd(1.0, 500, 7000, 2500)
    assert f(0) < f(250) < f(499) and f(500) == f(7499) == 1.0 and f(10000) == pytest.approx(0.0)
