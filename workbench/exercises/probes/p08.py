"""Phase 08 probes: Tensor ops and backward on random broadcast shapes, gradcheck, fused cross-entropy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree, compare

_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 4), (3, 1)),
    ((2, 3, 4), (1, 4)),
    ((5,), (2, 3, 5)),
    ((1, 1), (4, 2)),
    ((), (3,)),
]


def _grads(side: Any, f: Callable[..., Any], arrays: list[np.ndarray], w: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    with side:
        from engine.scratch.autograd.tensor import Tensor

        ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        out = f(*ts)
        (out * Tensor(w)).sum().backward()
        return out.data, [t.grad for t in ts]


def tensor_ops(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    ops: list[tuple[str, Callable[..., Any], Sequence[tuple[tuple[int, ...], ...]]]] = [
        ("a + b", lambda a, b: a + b, _PAIRS),
        ("a * b", lambda a, b: a * b, _PAIRS),
        ("a / b", lambda a, b: a / (b * b + 1.0), _PAIRS),
        (
            "a @ b",
            lambda a, b: a @ b,
            [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 1))],
        ),
        ("sum over axis 0", lambda a, b: (a * b).sum(axis=0), [((3, 4), (4,)), ((2, 3, 4), (3, 4))]),
        ("sum over axis -1, keepdims", lambda a, b: (a + b).sum(axis=-1, keepdims=True), [((3, 4), (3, 1))]),
        ("a used twice: a * a + a", lambda a, b: a * a + a + b, [((3, 4), (4,))]),
        ("(a @ b) * a", lambda a, b: (a @ b) * a, [((3, 3), (3, 3))]),
    ]
    for name, f, shapes in ops:
        for sa, sb in shapes:
            arrays = [rng.normal(size=sa), rng.normal(size=sb)]
            want_val, want_grads = _grads(reference, f, arrays, np.ones(1))
            w = rng.uniform(0.5, 1.5, size=np.shape(want_val))
            want_val, want_grads = _grads(reference, f, arrays, w)
            got_val, got_grads = _grads(learner, f, arrays, w)
            what = f"{name} on shapes {sa} and {sb}"
            out = compare("Tensor", f"{what}: value", got_val, want_val, rtol=1e-12)
            out += compare(
                "Tensor.backward", f"{what}: gradients of (a, b)", got_grads, want_grads, rtol=1e-10, atol=1e-12
            )
            if out:
                return out
    cases = [
        (f"a {g} gradient summed to {s}", (rng.normal(size=g), s))
        for g, s in [
            ((3, 4), (4,)),
            ((3, 4), (3, 1)),
            ((2, 3, 4), (1, 4)),
            ((2, 3, 4), ()),
            ((3, 4), (3, 4)),
            ((5, 1, 2), (1, 1)),
        ]
    ]
    return agree(learner, reference, "unbroadcast", cases, rtol=1e-12)


def gradcheck(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    from engine.scratch.autograd.gradcheck import GradcheckError
    from engine.scratch.autograd.tensor import Tensor

    out: list[str] = []
    for shape in [(3,), (2, 3), (1,), (2, 2, 2)]:
        x = rng.normal(size=shape)
        f = lambda x=x: float(np.sum(np.sin(x) * x))  # noqa: E731 - the same array numerical_grad perturbs in place
        keep = x.copy()
        got = learner.numerical_grad(f, x, 1e-6)
        out += compare(
            "numerical_grad",
            f"sum(sin(x) * x) on {shape}",
            got,
            np.cos(keep) * keep + np.sin(keep),
            rtol=1e-6,
            atol=1e-8,
        )
        if not np.array_equal(x, keep):
            out.append(f"numerical_grad: {shape}: x must be restored entry by entry after perturbing it")
        if out:
            return out
    good: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
        ("a * b + a", lambda a, b: a * b + a, [(3, 4), (4,)]),
        ("(a @ b).tanh()", lambda a, b: (a @ b).tanh(), [(2, 3), (3, 2)]),
        ("a.exp().sum(axis=0)", lambda a: a.exp().sum(axis=0), [(3, 2)]),
    ]
    for name, f, shapes in good:
        inputs = [Tensor(rng.normal(size=s)) for s in shapes]
        try:
            ok = learner.tensor_gradcheck(f, inputs)
        except GradcheckError as exc:
            return [f"tensor_gradcheck: {name}: raised on correct gradients: {str(exc).splitlines()[0]}"]
        if ok is not True:
            return [f"tensor_gradcheck: {name}: expected True for correct gradients, got {ok!r}"]
    from engine.scratch.autograd.tensor import set_unbroadcast

    broadcast: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
        ("a + b with b broadcast", lambda a, b: a + b, [(3, 4), (4,)]),
        ("a * b with b broadcast over rows", lambda a, b: a * b, [(3, 4), (3, 1)]),
    ]
    for name, f, shapes in broadcast:
        inputs = [Tensor(rng.normal(size=s)) for s in shapes]
        with set_unbroadcast(False):  # wrong gradients: the wrong shape must be caught, not crash
            try:
                learner.tensor_gradcheck(f, inputs)
            except GradcheckError:
                continue
            except Exception as exc:  # noqa: BLE001
                return [
                    f"tensor_gradcheck: {name} without unbroadcast: expected GradcheckError,"
                    f" got {type(exc).__name__}: {exc}"
                ]
        out.append(f"tensor_gradcheck: {name} without unbroadcast: wrong gradients passed; expected GradcheckError")
    return out


def cross_entropy(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    from engine.scratch.autograd.tensor import Tensor

    out: list[str] = []
    for shape, scale in [
        ((8, 5), 1.0),
        ((3, 7), 100.0),
        ((4, 6), 1000.0),
        ((5,), 1.0),
        ((1, 4), 10.0),
        ((16, 600), 5.0),
    ]:
        logits = rng.normal(size=shape) * scale
        n = 1 if len(shape) == 1 else shape[0]
        t = rng.integers(0, shape[-1], size=n) if len(shape) == 2 else int(rng.integers(0, shape[-1]))
        for reduction in ("mean", "sum", "none"):
            res = {}
            for side_name, side in (("mine", learner), ("ref", reference)):
                x = Tensor(logits.copy(), requires_grad=True)
                loss = side.cross_entropy(x, t, reduction)
                upstream = np.linspace(0.5, 1.5, int(np.prod(np.shape(loss.data)))).reshape(np.shape(loss.data))
                (loss * Tensor(upstream)).sum().backward()
                res[side_name] = (loss.data, x.grad)
            what = f"{shape} logits x{scale:g}, reduction={reduction}"
            out += compare("cross_entropy", f"{what}: loss", res["mine"][0], res["ref"][0], rtol=1e-10, atol=1e-12)
            out += compare(
                "cross_entropy", f"{what}: d loss / d logits", res["mine"][1], res["ref"][1], rtol=1e-9, atol=1e-12
            )
            if out:
                return out
    return out
