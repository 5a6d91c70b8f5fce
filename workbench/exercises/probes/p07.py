"""Phase 07 probes: the learner's Value ops and backward against the reference, on random scalars."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.exercises.probes._compare import compare

# (name, expression over Values/floats, number of inputs, positive inputs only)
_EXPRS: list[tuple[str, Callable[..., Any], int, bool]] = [
    ("a + b", lambda a, b: a + b, 2, False),
    ("a + 2.5", lambda a: a + 2.5, 1, False),
    ("a - b", lambda a, b: a - b, 2, False),
    ("a - 1.5", lambda a: a - 1.5, 1, False),
    ("a * b", lambda a, b: a * b, 2, False),
    ("a * 3.0", lambda a: a * 3.0, 1, False),
    ("a / b", lambda a, b: a / b, 2, True),
    ("a / 4.0", lambda a: a / 4.0, 1, False),
    ("a ** 3", lambda a: a**3, 1, False),
    ("a ** -0.5", lambda a: a**-0.5, 1, True),
    ("a.exp()", lambda a: a.exp(), 1, False),
    ("a.log()", lambda a: a.log(), 1, True),
    ("a.relu() (positive a)", lambda a: a.relu(), 1, True),
    ("(-a).relu() (negative input)", lambda a: (a * -1.0).relu(), 1, True),
    ("a.tanh()", lambda a: a.tanh(), 1, False),
    ("diamond (a*b + c) * (a - c)", lambda a, b, c: (a * b + c) * (a - c), 3, False),
    ("a used three times: a*a + a", lambda a: a * a + a, 1, False),
    ("tanh(a*b + c) / (b*b + 1)", lambda a, b, c: (a * b + c).tanh() / (b * b + 1.0), 3, False),
]


def _forward_backward(side: Any, expr: Callable[..., Any], xs: list[float]) -> tuple[float, list[float]]:
    with side:
        vals = [side.Value(x) for x in xs]
        out = expr(*vals)
        out.backward()
        return out.data, [v.grad for v in vals]


def value_ops(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for name, expr, n, positive in _EXPRS:
        for _ in range(3):
            xs = [float(rng.uniform(0.2, 3.0) if positive else rng.uniform(-3.0, 3.0)) for _ in range(n)]
            want = _forward_backward(reference, expr, xs)
            got = _forward_backward(learner, expr, xs)
            shown = ", ".join(f"{x:.3f}" for x in xs)
            out += compare("Value", f"{name} at ({shown}): value", got[0], want[0], rtol=1e-12)
            out += compare("Value.backward", f"{name} at ({shown}): gradients", got[1], want[1], rtol=1e-12)
            if out:
                return out
    # a deep chain: the sort must not recurse 5000 levels deep
    with learner:
        x = learner.Value(0.5)
        y = x
        for _ in range(5000):
            y = y * 1.0 + 0.0
        y.backward()
        if not math.isclose(x.grad, 1.0):
            out.append(f"Value.backward: a chain 5000 ops deep: d(out)/dx = {x.grad}, expected 1.0")
    return out


def gradcheck(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """The learner's scalar_gradcheck must pass correct gradients and catch wrong ones."""
    from engine.scratch.autograd.gradcheck import GradcheckError
    from engine.scratch.autograd.scalar import Value

    out: list[str] = []
    for name, expr, n, positive in _EXPRS:
        xs = [float(rng.uniform(0.5, 2.0) if positive else rng.uniform(-2.0, 2.0)) for _ in range(n)]
        inputs = [Value(x) for x in xs]
        try:
            ok = learner.scalar_gradcheck(expr, inputs)
        except GradcheckError as exc:
            return [f"scalar_gradcheck: {name} at {xs}: raised on correct gradients: {str(exc).splitlines()[0]}"]
        if ok is not True:
            return [f"scalar_gradcheck: {name}: expected True for correct gradients, got {ok!r}"]
        if [v.data for v in inputs] != xs:
            return [
                f"scalar_gradcheck: {name}: the inputs' .data must be restored after perturbing"
                f" (got {[v.data for v in inputs]}, had {xs})"
            ]
    # wrong gradients (the `=` backward on a diamond) must raise GradcheckError
    wrong: list[tuple[str, Callable[..., Any], list[float]]] = [
        ("diamond", lambda a, b, c: (a * b + c) * (a - c), [2.0, 3.0, 4.0]),
        ("a*a + a", lambda a: a * a + a, [1.5]),
    ]
    for name, expr, xs in wrong:
        try:
            learner.scalar_gradcheck(expr, [Value(x) for x in xs], accumulate=False)
        except GradcheckError:
            continue
        except Exception as exc:  # noqa: BLE001
            return [
                f"scalar_gradcheck: wrong gradients on {name}: expected GradcheckError, got {type(exc).__name__}: {exc}"
            ]
        out.append(f"scalar_gradcheck: {name} with the `=` backward: wrong gradients passed; expected GradcheckError")
    return out


def scalar_mlp(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """The learner's Neuron and MLP forward passes and parameter lists, values and gradients."""
    import random

    from engine.labs.p07_scalar_autograd import MLP

    out: list[str] = []
    for n_in, sizes in [(5, [4, 5]), (3, [1]), (2, [3, 3, 2])]:
        seed = int(rng.integers(0, 2**31))
        xs = [float(v) for v in rng.uniform(-1, 1, n_in)]
        res = {}
        for name, side in (("mine", learner), ("ref", reference)):
            with side:
                model = MLP(n_in, sizes, random.Random(seed))
                params = model.parameters()
                outs = model(xs)
                loss = outs[0] * 0.0
                for i, o in enumerate(outs):
                    loss = loss + (o - 0.1 * i) ** 2
                loss.backward()
                res[name] = ([o.data for o in outs], [p.data for p in params], [p.grad for p in params])
        what = f"MLP({n_in}, {sizes}) seeded {seed}"
        out += compare(
            "MLP.parameters", f"{what}: parameter values in order", res["mine"][1], res["ref"][1], rtol=0, atol=0
        )
        out += compare("Neuron.__call__", f"{what}: outputs", res["mine"][0], res["ref"][0], rtol=1e-12)
        out += compare(
            "Neuron.__call__", f"{what}: gradients of every parameter", res["mine"][2], res["ref"][2], rtol=1e-10
        )
        if out:
            return out
    return out
