"""Finite-difference gradient checks, for `Value` graphs and for `Tensor` functions.

Central differences: (f(x+eps) - f(x-eps)) / 2eps has O(eps^2) truncation error, and
rounding error ~ machine-eps / eps, so eps near 1e-5..1e-6 is the sweet spot in fp64.
A check passes when |numerical - analytic| <= atol + rtol * |numerical| for every input
entry; on failure it raises `GradcheckError` naming the input, the index and both values.
Tensor checks always run in float64 (copies of the inputs are promoted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.scratch.autograd.scalar import Value


class GradcheckError(AssertionError):
    """A gradient disagreed with its finite-difference estimate."""


@dataclass(frozen=True)
class Mismatch:
    input_index: int
    entry: tuple[int, ...]
    numerical: float
    analytic: float

    def message(self) -> str:
        diff = abs(self.numerical - self.analytic)
        rel = diff / max(abs(self.numerical), 1e-300)
        where = f"input index {self.input_index}" + (f", entry {self.entry}" if self.entry else "")
        return (
            f"gradcheck FAILED at {where}:\n"
            f"    numerical = {self.numerical:.6f}\n"
            f"    analytic  = {self.analytic:.6f}\n"
            f"    abs diff  = {diff:.6g}\n"
            f"    rel diff  = {rel:.6g}"
        )


def _close(num: float, ana: float, atol: float, rtol: float) -> bool:
    return abs(num - ana) <= atol + rtol * abs(num)


def scalar_gradcheck(
    f: Callable[..., Value],
    inputs: Sequence[Value],
    *,
    eps: float = 1e-5,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    accumulate: bool = True,
) -> bool:
    """Check `f(*inputs).backward()` against central differences on each input's `.data`.

    `accumulate=False` runs the broken (`=` instead of `+=`) backward, for the phase-07 break.
    Returns True or raises `GradcheckError`. Restores every `.data` it perturbs.
    """
    for v in inputs:
        v.grad = 0.0
    out = f(*inputs)
    for node in out.topo():
        node.grad = 0.0
    out.backward(accumulate=accumulate)
    analytic = [v.grad for v in inputs]
    for i, v in enumerate(inputs):
        x0 = v.data
        v.data = x0 + eps
        up = f(*inputs).data
        v.data = x0 - eps
        down = f(*inputs).data
        v.data = x0
        num = (up - down) / (2 * eps)
        if not _close(num, analytic[i], atol, rtol):
            raise GradcheckError(Mismatch(i, (), num, analytic[i]).message())
    return True


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float) -> np.ndarray:
    """d f / d x by central differences, perturbing `x` in place entry by entry."""
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        x0 = x[idx]
        x[idx] = x0 + eps
        up = f()
        x[idx] = x0 - eps
        down = f()
        x[idx] = x0
        grad[idx] = (up - down) / (2 * eps)
    return grad


def tensor_gradcheck(
    f: Callable[..., object],
    inputs: Sequence[object],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> bool:
    """Check a Tensor function against central differences, in float64.

    `f(*tensors)` may return a tensor of any shape: the check uses the scalar
    `sum(f(...) * R)` with a fixed random R, so every output entry is weighted differently
    (a uniform weighting would hide some broadcasting bugs). Raises `GradcheckError` on the
    first mismatch, naming input, entry and both values; a gradient of the wrong shape is a
    mismatch too.
    """
    from engine.scratch.autograd.tensor import Tensor  # local: tensor imports numpy machinery

    xs = [Tensor(np.array(t.data, dtype=np.float64), requires_grad=True) for t in inputs]  # type: ignore[attr-defined]
    out0 = f(*xs)
    rng = np.random.default_rng(1234)
    weights = rng.uniform(0.5, 1.5, size=out0.shape)  # type: ignore[attr-defined]
    w = Tensor(weights)

    def scalar() -> float:
        return float(np.sum(f(*xs).data * weights))  # type: ignore[attr-defined]

    loss = (out0 * w).sum()  # type: ignore[operator]
    loss.backward()
    for i, x in enumerate(xs):
        analytic = x.grad if x.grad is not None else np.zeros_like(x.data)
        if analytic.shape != x.data.shape:
            raise GradcheckError(
                f"gradcheck FAILED at input index {i}: gradient shape {analytic.shape} "
                f"!= input shape {x.data.shape}"
            )
        num = numerical_grad(scalar, x.data, eps)
        for idx in np.ndindex(x.data.shape):
            if not _close(float(num[idx]), float(analytic[idx]), atol, rtol):
                raise GradcheckError(Mismatch(i, idx, float(num[idx]), float(analytic[idx])).message())
    return True


def eps_sweep(f: Callable[..., Value], point: tuple[float, float], exact: float,
              exponents: Sequence[int] = range(1, 13)) -> list[tuple[float, float]]:
    """(eps, |central difference in the first argument - exact|) for eps = 10^-k: the U-shaped error,
    truncation (eps^2) falling and rounding (1/eps) rising as eps shrinks."""
    a, b = point
    out = []
    for k in exponents:
        eps = 10.0**-k
        num = (f(Value(a + eps), Value(b)).data - f(Value(a - eps), Value(b)).data) / (2 * eps)
        out.append((eps, abs(num - exact)))
    return out


def rejects_wrong_gradient(eps: float, atol: float, rtol: float) -> bool:
    """Whether scalar_gradcheck at these tolerances rejects a square whose backward is 1 % off (2.02 a)."""
    def wrong_square(a: Value) -> Value:
        return Value(a.data * a.data, (a,), "sq", (2.02 * a.data,))

    try:
        scalar_gradcheck(wrong_square, [Value(3.0)], eps=eps, atol=atol, rtol=rtol)
    except GradcheckError:
        return True
    return False
