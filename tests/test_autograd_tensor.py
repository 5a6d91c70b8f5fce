"""Tensor ops against torch float64 (1e-7), broadcasting property tests, gradcheck, stress values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scratch.autograd import tensor as T
from engine.scratch.autograd.gradcheck import GradcheckError, tensor_gradcheck
from engine.scratch.autograd.tensor import Tensor, cat, cross_entropy, no_grad, stack, unbroadcast

torch = pytest.importorskip("torch")
F = torch.nn.functional
TOL = 1e-7
RNG = np.random.default_rng(42)


def _compare(f_ours: Callable, f_torch: Callable, *arrays: np.ndarray, tol: float = TOL) -> None:
    """Forward value and every input gradient, with a random upstream weighting."""
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, tout = f_ours(*ours), f_torch(*theirs)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    w = np.random.default_rng(7).uniform(0.5, 1.5, size=out.shape)
    (out * Tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for a, ta in zip(ours, theirs, strict=True):
        assert a.grad is not None and a.grad.shape == a.shape
        np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=tol, atol=tol)


def r(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return RNG.uniform(low, high, size=shape)


UNARY = {
    "neg": (lambda x: -x, lambda t: -t),
    "exp": (lambda x: x.exp(), lambda t: t.exp()),
    "relu": (lambda x: x.relu(), lambda t: t.relu()),
    "tanh": (lambda x: x.tanh(), lambda t: t.tanh()),
    "sigmoid": (lambda x: x.sigmoid(), lambda t: t.sigmoid()),
    "silu": (lambda x: x.silu(), lambda t: F.silu(t)),
    "gelu": (lambda x: x.gelu(), lambda t: F.gelu(t, approximate="tanh")),
    "pow3": (lambda x: x**3, lambda t: t**3),
    "square_then_sqrt": (lambda x: (x * x + 1.0).sqrt(), lambda t: (t * t + 1.0).sqrt()),
    "softmax0": (lambda x: x.softmax(0), lambda t: t.softmax(0)),
    "softmax-1": (lambda x: x.softmax(-1), lambda t: t.softmax(-1)),
    "log_softmax": (lambda x: x.log_softmax(-1), lambda t: t.log_softmax(-1)),
    "sum": (lambda x: x.sum(), lambda t: t.sum()),
    "sum0": (lambda x: x.sum(axis=0), lambda t: t.sum(0)),
    "sum1k": (lambda x: x.sum(axis=1, keepdims=True), lambda t: t.sum(1, keepdim=True)),
    "sum01": (lambda x: x.sum(axis=(0, 2)), lambda t: t.sum((0, 2))),
    "mean": (lambda x: x.mean(), lambda t: t.mean()),
    "mean1": (lambda x: x.mean(axis=1), lambda t: t.mean(1)),
    "var-1": (lambda x: x.var(axis=-1), lambda t: t.var(-1, unbiased=False)),
    "max": (lambda x: x.max(), lambda t: t.amax()),
    "max1k": (lambda x: x.max(axis=1, keepdims=True), lambda t: t.amax(1, keepdim=True)),
    "reshape": (lambda x: x.reshape(4, 6) * Tensor(np.arange(24.0).reshape(4, 6)),
                lambda t: t.reshape(4, 6) * torch.arange(24.0, dtype=torch.float64).reshape(4, 6)),
    "transpose": (lambda x: x.transpose((2, 0, 1)), lambda t: t.permute(2, 0, 1)),
    "getitem_slice": (lambda x: x[1:, ::2], lambda t: t[1:, ::2]),
    "getitem_fancy": (lambda x: x[np.array([0, 0, 1])], lambda t: t[torch.tensor([0, 0, 1])]),
    "broadcast_to": (lambda x: x[:, :1, :].broadcast_to((2, 3, 4)), lambda t: t[:, :1, :].expand(2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_and_shape_ops_match_torch(name: str) -> None:
    f, tf = UNARY[name]
    _compare(f, tf, r(2, 3, 4))


def test_log_matches_torch() -> None:
    _compare(lambda x: x.log(), lambda t: t.log(), r(3, 4, low=0.1, high=3.0))


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
    "radd": lambda a, b: 1.5 + a * b,
    "rsub": lambda a, b: 1.5 - a * b,
    "rdiv": lambda a, b: 1.5 / (a * a + 0.5) + b,
}
BROADCAST_PAIRS = [((3,), (4, 3)), ((4, 1), (1, 5)), ((3, 1), (3, 5)), ((2, 1, 4), (3, 1)), ((), (2, 3))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize(("sa", "sb"), BROADCAST_PAIRS)
def test_binary_broadcasting_matches_torch(name: str, sa: tuple, sb: tuple) -> None:
    _compare(BINARY[name], BINARY[name], r(*sa), r(*sb))


@st.composite
def broadcastable_pair(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    other = [draw(st.sampled_from([n, 1])) for n in shape]
    cut = draw(st.integers(0, len(other)))
    a, b = tuple(shape), tuple(other[cut:])
    return (a, b) if draw(st.booleans()) else (b, a)


@settings(max_examples=100, deadline=None)
@given(pair=broadcastable_pair(), op=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_property_broadcast_backward(pair: tuple, op: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-2, 2, size=pair[0]), rng.uniform(-2, 2, size=pair[1])
    _compare(BINARY[op], BINARY[op], a, b)


MATMUL_SHAPES = [((3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4, 5)), ((4,), (4,)), ((2, 3, 4), (2, 4, 5)),
                 ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2))]


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul_matches_torch(sa: tuple, sb: tuple) -> None:
    _compare(lambda a, b: a @ b, lambda a, b: a @ b, r(*sa), r(*sb))


def test_cat_stack_match_torch() -> None:
    _compare(lambda a, b: cat([a, b, a], axis=1), lambda a, b: torch.cat([a, b, a], 1), r(2, 3), r(2, 5))
    _compare(lambda a, b: stack([a, b], axis=1), lambda a, b: torch.stack([a, b], 1), r(2, 3), r(2, 3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction: str) -> None:
    y = np.array([0, 2, 1, 0])
    _compare(lambda z: cross_entropy(z, y, reduction),
             lambda z: F.cross_entropy(z, torch.tensor(y), reduction=reduction), r(4, 3, low=-5, high=5))


def test_cross_entropy_stress_and_contract() -> None:
    z = Tensor(np.array([[1000.0, 0.0, 0.0]]), requires_grad=True)
    loss = cross_entropy(z, np.array([0]))
    loss.backward()
    assert loss.item() < 1e-10 and np.allclose(z.grad, 0.0, atol=1e-9)
    z = Tensor(np.array([[1000.0, 0.0, 0.0]]), requires_grad=True)
    loss = cross_entropy(z, np.array([2]))
    loss.backward()
    assert abs(loss.item() - 1000.0) < 1e-3
    np.testing.assert_allclose(z.grad, [[1.0, 0.0, -1.0]], atol=1e-9)
    s = Tensor(np.array([1000.0, 1001.0, 999.0])).softmax()
    assert np.isfinite(s.data).all() and abs(s.data.sum() - 1) < 1e-12
    with pytest.raises(TypeError):
        cross_entropy(Tensor(np.zeros((2, 3))), np.array([[1.0, 0, 0], [0, 1.0, 0]]))


def test_course_grammar_example() -> None:
    """One-hot person 'you' @ W(3,5), target past simple: W.grad = outer(p, softmax - onehot)."""
    w0 = r(3, 5)
    p = Tensor(np.array([[0.0, 1.0, 0.0]]))
    w = Tensor(w0, requires_grad=True)
    cross_entropy(p @ w, np.array([2])).backward()
    tw = torch.tensor(w0, requires_grad=True)
    F.cross_entropy(torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64) @ tw, torch.tensor([2])).backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=TOL, atol=1e-12)


def test_course_tricky_cases() -> None:
    x = Tensor(np.ones((3, 4)), requires_grad=True)
    x.sum(axis=0).sum().backward()
    assert np.array_equal(x.grad, np.ones((3, 4)))
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    x.mean().backward()
    assert np.allclose(x.grad, 1 / 6)
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x[[0, 0, 1]].sum().backward()
    assert x.grad.tolist() == [2.0, 1.0, 0.0]
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    cat([a, a]).sum().backward()
    assert np.array_equal(a.grad, 2 * np.ones((2, 3)))
    person = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    logits = Tensor(r(3, 5), requires_grad=True)
    (person[:, None] * logits).sum().backward()
    assert person.grad.shape == (3,)


def test_gradcheck_on_composites() -> None:
    a, b = Tensor(r(3, 4)), Tensor(r(4,))
    assert tensor_gradcheck(lambda x, y: ((x * y).gelu() @ y).tanh(), [a, b])
    assert tensor_gradcheck(lambda x: x.log_softmax(0).max(axis=1), [Tensor(r(3, 4))])
    assert tensor_gradcheck(lambda x: cross_entropy(x, np.array([1, 0, 3]), "sum"), [Tensor(r(3, 4))])


def test_skipping_unbroadcast_is_caught() -> None:
    a, b = Tensor(r(3,)), Tensor(r(4, 3))
    with T.set_unbroadcast(False), pytest.raises(GradcheckError, match="shape"):
        tensor_gradcheck(lambda x, y: x + y, [a, b])
    c, d = Tensor(r(3, 1)), Tensor(r(3, 5))  # regime 2: shapes collide only when summed
    with T.set_unbroadcast(False), pytest.raises((GradcheckError, ValueError)):
        tensor_gradcheck(lambda x, y: x * y, [c, d])
    assert unbroadcast(np.ones((4, 3)), (3,)).tolist() == [4.0, 4.0, 4.0]


def test_dtype_no_grad_detach_and_functional() -> None:
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert (Tensor([1.0]) * 2.5).dtype == np.float32
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y._prev == ()
    assert not x.detach().requires_grad
    z = Tensor(5.0)
    z.backward()
    assert z.grad == 1.0
    with pytest.raises(RuntimeError):
        (x * 2).backward()
    with pytest.raises(NotImplementedError):
        x += 1
    assert len(repr(Tensor(np.zeros((100, 100))))) < 400


def test_fused_linear_and_norms_match_torch() -> None:
    w, b, g = r(5, 4), r(5), r(4, low=0.5, high=1.5)
    _compare(lambda x, w_, b_: T.linear(x, w_, b_), lambda x, w_, b_: F.linear(x, w_, b_), r(2, 3, 4), w, b)
    _compare(lambda x, w_: T.linear(x, w_), lambda x, w_: F.linear(x, w_), r(3, 4), w)
    _compare(lambda x, g_: T.rms_norm(x, g_, 1e-6), lambda x, g_: F.rms_norm(x, (4,), g_, 1e-6), r(2, 3, 4), g)
    _compare(lambda x, g_, b_: T.layer_norm(x, g_, b_, 1e-5),
             lambda x, g_, b_: F.layer_norm(x, (4,), g_, b_, 1e-5), r(2, 3, 4), g, r(4))
