"""Scalar Value: every op against torch float64 (1e-9), the diamond, deep graphs, the break, graph export."""

from __future__ import annotations

import math

import pytest

from engine.scratch.autograd.gradcheck import GradcheckError, scalar_gradcheck
from engine.scratch.autograd.graph import to_dot, to_text_tree
from engine.scratch.autograd.scalar import Value, zero_grad

torch = pytest.importorskip("torch")

TOL = 1e-9

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "radd": lambda a, b: 2.5 + a * b,
    "rsub": lambda a, b: 2.5 - a * b,
    "rmul": lambda a, b: 2.5 * (a + b),
    "rdiv": lambda a, b: 2.5 / (a + b),
}
UNARY = {
    "neg": (lambda a: -a, lambda t: -t),
    "exp": (lambda a: a.exp(), lambda t: t.exp()),
    "log": (lambda a: a.log(), lambda t: t.log()),
    "relu": (lambda a: a.relu(), lambda t: t.relu()),
    "tanh": (lambda a: a.tanh(), lambda t: t.tanh()),
    "pow3": (lambda a: a**3, lambda t: t**3),
    "pow0.5": (lambda a: a**0.5, lambda t: t**0.5),
    "pow-1": (lambda a: a**-1, lambda t: t**-1),
    "pow0": (lambda a: a**0, lambda t: t**0),
}


def _torch_pair(x: float, y: float) -> tuple:
    return (torch.tensor(x, dtype=torch.float64, requires_grad=True),
            torch.tensor(y, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(("x", "y"), [(2.0, 3.0), (-1.3, 0.7), (0.5, -4.0)])
def test_binary_ops_match_torch(name: str, x: float, y: float) -> None:
    f = BINARY[name]
    a, b = Value(x), Value(y)
    out = f(a, b)
    out.backward()
    ta, tb = _torch_pair(x, y)
    tout = f(ta, tb)
    tout.backward()
    assert abs(out.data - tout.item()) < TOL
    assert abs(a.grad - ta.grad.item()) < TOL
    assert abs(b.grad - tb.grad.item()) < TOL


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("x", [2.0, 0.5, 1.7])
def test_unary_ops_match_torch(name: str, x: float) -> None:
    f, tf = UNARY[name]
    a = Value(x)
    out = f(a)
    out.backward()
    ta = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tout = tf(ta)
    tout.backward()
    assert abs(out.data - tout.item()) < TOL
    assert abs(a.grad - ta.grad.item()) < TOL


def test_edge_cases() -> None:
    z = Value(0.0)
    z.relu().backward()
    assert z.grad == 0.0  # subgradient 0 at 0, like torch
    assert (1 / Value(2.0)).data == 0.5
    with pytest.raises(ValueError):
        Value(0.0).log()
    with pytest.raises(ValueError):
        Value(-1.0).log()
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)  # type: ignore[operator]
    assert "2.5" in repr(Value(2.5))


def test_diamond() -> None:
    a, b, c = Value(2.0, label="a"), Value(3.0, label="b"), Value(4.0, label="c")
    loss = (a * b + c) * (a - c)
    loss.backward()
    assert loss.data == -20.0
    assert (a.grad, b.grad, c.grad) == (4.0, -4.0, -12.0)


def test_overwrite_break_gives_the_course_numbers() -> None:
    a, b, c = Value(2.0), Value(3.0), Value(4.0)
    loss = (a * b + c) * (a - c)
    loss.backward(accumulate=False)
    assert (a.grad, b.grad, c.grad) == (-6.0, -4.0, -2.0)
    x, y = Value(3.0), Value(5.0)
    (x * y).backward(accumulate=False)  # linear cases stay right
    assert (x.grad, y.grad) == (5.0, 3.0)


def test_loop_sum_and_reuse_accumulate() -> None:
    xs = [Value(float(i)) for i in range(5)]
    total = xs[0]
    for v in xs[1:]:
        total = total + v
    total.backward()
    assert [v.grad for v in xs] == [1.0] * 5
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    (x * x).backward()  # backward never zeroes: grads add up
    assert x.grad == 12.0
    zero_grad([x])
    assert x.grad == 0.0


def test_deep_chain_needs_no_recursion() -> None:
    x = Value(0.3)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_topo_order_matches_recursive_dfs() -> None:
    a, b, c = Value(2.0), Value(3.0), Value(4.0)
    loss = (a * b + c) * (a - c)

    def recursive(v: Value, seen: set, out: list) -> None:
        if v not in seen:
            seen.add(v)
            for p in v._prev:
                recursive(p, seen, out)
            out.append(v)

    ref: list = []
    recursive(loss, set(), ref)
    assert loss.topo() == ref


def test_gradcheck_passes_and_fails_loudly() -> None:
    cases = [
        lambda a, b, c: (a * b + c) * (a - c),
        lambda a, b, c: (a * b + c).relu(),
        lambda a, b, c: a / (b + 1.0),
        lambda a, b, c: (a * b).tanh() + c.exp() - (a + 5.0).log() + b**2,
    ]
    for f in cases:
        assert scalar_gradcheck(f, [Value(2.0), Value(3.0), Value(0.4)])
    with pytest.raises(GradcheckError, match="input index 0") as err:
        scalar_gradcheck(cases[0], [Value(2.0), Value(3.0), Value(4.0)], accumulate=False)
    assert "numerical = 4.0000" in str(err.value) and "analytic  = -6.0000" in str(err.value)


def test_graph_export() -> None:
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    out = (a * b + a).tanh()
    out.label = "out"
    out.backward()
    dot = to_dot(out)
    assert dot.startswith("digraph") and dot.count("shape=record") == 5 and "tanh" in dot
    tree = to_text_tree(out)
    assert tree.splitlines()[0].startswith("[tanh] out")
    assert "(shared" not in tree or "a" in tree
    assert math.isclose(a.grad, (1 - math.tanh(8.0) ** 2) * 4.0)
