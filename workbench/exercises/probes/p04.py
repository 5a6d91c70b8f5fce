"""Phase 04 probes: softmax/CE gradients, an MLP Jacobian, optimizer steps and LR schedules."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree, compare


def softmax_gradient(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    zs = [rng.normal(size=n) * s for n in (1, 2, 5, 12) for s in (1.0, 20.0)] + [np.array([1000.0, 0.0, -1000.0])]
    out = agree(
        learner, reference, "softmax_jacobian", [(f"z of size {z.size}", (z,)) for z in zs], rtol=1e-10, atol=1e-14
    )
    ce = [(f"z of size {z.size}, y={y}", (z, y)) for z in zs for y in {0, z.size - 1}]
    return out + agree(learner, reference, "ce_grad", ce, rtol=1e-10, atol=1e-14)


def mlp_jacobian(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    cases = []
    for n_in, hidden, n_out in [(3, 4, 2), (2, 5, 3), (1, 1, 1), (4, 3, 5)]:
        x = rng.normal(size=n_in)
        w1, b1 = rng.normal(size=(hidden, n_in)), rng.normal(size=hidden)
        w2, b2 = rng.normal(size=(n_out, hidden)), rng.normal(size=n_out)
        cases.append((f"{n_in}->{hidden}->{n_out} MLP", (x, w1, b1, w2, b2)))
        kink = b1.copy()
        kink[0] = -(w1[0] @ x)  # h_pre[0] exactly 0: relu'(0) is 0 by convention
        cases.append((f"{n_in}->{hidden}->{n_out} MLP with a unit exactly at the kink", (x, w1, kink, w2, b2)))
    out = agree(learner, reference, "analytical_jacobian_w1", cases, rtol=1e-12, atol=1e-14)
    fns = [
        ("tanh", np.tanh),
        ("x^2 summed", lambda v: np.array([np.sum(v * v)])),
        ("outer", lambda v: np.outer(v, v[:2]).ravel()),
    ]
    for name, f in fns:
        x = rng.normal(size=4)
        out += compare("numerical_jacobian", f"{name} at a random x", learner.numerical_jacobian(f, x),
                       reference.numerical_jacobian(f, x), rtol=1e-7, atol=1e-9)
    return out


def optimizers(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for name, kw in [("momentum_step", {"beta": 0.9}), ("momentum_step", {"beta": 0.5}), ("adam_step", {}),
                     ("adam_step", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6})]:
        p_ref = p_mine = rng.normal(size=(3, 2))
        s_ref: dict[str, Any] = {}
        s_mine: dict[str, Any] = {}
        for step in range(25):
            g = rng.normal(size=(3, 2)) * (10.0 if step % 7 == 0 else 1.0)
            p_ref, s_ref = getattr(reference, name)(p_ref, g, s_ref, 0.01, **kw)
            p_mine, s_mine = getattr(learner, name)(p_mine, g.copy(), dict(s_mine), 0.01, **kw)
            out += compare(
                name, f"params after step {step + 1} ({kw or 'defaults'})", p_mine, p_ref, rtol=1e-10, atol=1e-14
            )
            if out:
                return out
    return out


def schedules(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for base, total, min_lr in [(0.1, 100, 0.0), (3e-4, 1000, 1e-5), (1.0, 7, 0.2)]:
        steps = sorted({0, 1, total // 2, total - 1, total, total + 5, *rng.integers(0, total + 10, 10).tolist()})
        for warm in (1, max(total // 10, 1)):
            for s in steps:
                args = [("cosine", (base, total, min_lr)), ("warmup_cosine", (base, warm, total, min_lr)),
                        ("wsd", (base, warm, total // 2, total - warm - total // 2, min_lr))]
                for name, a in args:
                    want = getattr(reference, name)(*a)(s)
                    got = getattr(learner, name)(*a)(s)
                    out += compare(name, f"{name}{a} at step {s}", got, want, rtol=1e-12, atol=1e-15)
                    if out:
                        return out
    return out
