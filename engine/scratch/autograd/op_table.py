"""Every Tensor op's value and input gradients against an oracle: torch in float64, or central differences.

Phase 08 lab 01 runs this table. The torch module is passed in (or None), so the scratch stack never
imports torch: with torch each op's value and weighted-sum gradients are compared elementwise; without
it `tensor_gradcheck` judges the gradients. Inputs are drawn from the caller's generator in table
order, and each op's upstream weights from a generator seeded by its index, so ours and torch's
backward see the same upstream gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.scratch.autograd.gradcheck import GradcheckError, numerical_grad, tensor_gradcheck
from engine.scratch.autograd.tensor import Tensor, cat, cross_entropy, linear, stack

Op = tuple[Callable[..., Any], Callable[..., Any], list[tuple[int, ...]]]


def op_table(torch: Any) -> dict[str, Op]:
    """name -> (our op, torch's op, input shapes); broadcasting, reductions, indexing, fused linear."""
    F = torch.nn.functional if torch is not None else None
    y = np.array([0, 2, 1, 0])
    ty = torch.tensor(y) if torch is not None else None
    return {
        "add (3,)+(4,3)": (lambda a, b: a + b, lambda a, b: a + b, [(3,), (4, 3)]),
        "sub (4,1)-(1,5)": (lambda a, b: a - b, lambda a, b: a - b, [(4, 1), (1, 5)]),
        "mul (3,1)*(3,5)": (lambda a, b: a * b, lambda a, b: a * b, [(3, 1), (3, 5)]),
        "div (2,3)/(3,)": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0), [(2, 3), (3,)]),
        "neg": (lambda a: -a, lambda a: -a, [(3, 4)]),
        "pow": (lambda a: a**3, lambda a: a**3, [(3, 4)]),
        "exp": (lambda a: a.exp(), lambda a: a.exp(), [(3, 4)]),
        "log": (lambda a: (a * a + 0.5).log(), lambda a: (a * a + 0.5).log(), [(3, 4)]),
        "relu": (lambda a: a.relu(), lambda a: a.relu(), [(3, 4)]),
        "tanh": (lambda a: a.tanh(), lambda a: a.tanh(), [(3, 4)]),
        "gelu": (lambda a: a.gelu(), lambda a: F.gelu(a, approximate="tanh"), [(3, 4)]),
        "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid(), [(3, 4)]),
        "silu": (lambda a: a.silu(), lambda a: F.silu(a), [(3, 4)]),
        "sum(axis=0)": (lambda a: a.sum(axis=0), lambda a: a.sum(0), [(3, 4)]),
        "mean(keepdims)": (lambda a: a.mean(axis=1, keepdims=True), lambda a: a.mean(1, keepdim=True), [(3, 4)]),
        "max(axis=1)": (lambda a: a.max(axis=1), lambda a: a.amax(1), [(3, 4)]),
        "reshape": (lambda a: a.reshape(2, 6), lambda a: a.reshape(2, 6), [(3, 4)]),
        "transpose": (lambda a: a.transpose((2, 0, 1)), lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
        "getitem": (lambda a: a[np.array([0, 0, 2])], lambda a: a[torch.tensor([0, 0, 2])], [(3, 4)]),
        "cat": (lambda a, b: cat([a, b], axis=1), lambda a, b: torch.cat([a, b], 1), [(2, 3), (2, 5)]),
        "stack": (lambda a, b: stack([a, b], axis=0), lambda a, b: torch.stack([a, b], 0), [(2, 3), (2, 3)]),
        "matmul 2Dx2D": (lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 5)]),
        "matmul batched+broadcast": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
        "matmul 1D": (lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4, 5)]),
        "softmax": (lambda a: a.softmax(-1), lambda a: a.softmax(-1), [(3, 4)]),
        "log_softmax": (lambda a: a.log_softmax(0), lambda a: a.log_softmax(0), [(3, 4)]),
        "cross_entropy": (lambda a: cross_entropy(a, y), lambda a: F.cross_entropy(a, ty), [(4, 3)]),
        "linear (fused, 3-D x)": (lambda x, w, b: linear(x, w, b), lambda x, w, b: F.linear(x, w, b),
                                  [(2, 3, 4), (5, 4), (5,)]),
    }


def max_ties_err(torch: Any) -> float:
    """max over rows with ties: the gradient is shared equally among tied maxima, as torch.amax does."""
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, 5.0, 1.0, 5.0]])
    w = np.array([0.7, 1.3, 2.0])
    x = Tensor(a.copy(), requires_grad=True)
    (x.max(axis=1) * Tensor(w)).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (t.amax(1) * torch.tensor(w)).sum().backward()
    return float(np.max(np.abs(x.grad - t.grad.numpy())))


def ours(f: Callable[..., Tensor], arrays: list[np.ndarray], w_seed: int) -> tuple[np.ndarray, list[Any]]:
    """Our op's value and the input gradients of sum(out * w), w ~ U(0.5, 1.5) seeded by `w_seed`."""
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = f(*xs)
    w = np.random.default_rng(w_seed).uniform(0.5, 1.5, size=out.shape)
    (out * Tensor(w)).sum().backward()
    return out.data, [x.grad for x in xs]


def op_error(f: Callable[..., Any], tf: Callable[..., Any], arrays: list[np.ndarray], w_seed: int,
             torch: Any | None) -> tuple[float, bool]:
    """(max abs error of value and gradients, gradient shapes right). Without torch the error is 0 or inf
    by gradcheck; a wrong gradient shape is an infinite error."""
    try:
        value, grads = ours(f, arrays, w_seed)
    except ValueError:  # a wrong-shape gradient that numpy refuses to add
        grads, value = [None], None
    if not all(g is not None and g.shape == a.shape for g, a in zip(grads, arrays, strict=False)):
        return float("inf"), False
    if torch is None:
        try:
            tensor_gradcheck(f, [Tensor(a) for a in arrays], eps=1e-6, atol=1e-5, rtol=1e-4)
            return 0.0, True
        except GradcheckError:
            return float("inf"), True
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = tf(*ts)
    w = np.random.default_rng(w_seed).uniform(0.5, 1.5, size=tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    err = float(np.max(np.abs(value - tout.detach().numpy())))
    for g, t in zip(grads, ts, strict=True):
        err = max(err, float(np.max(np.abs(g - t.grad.numpy()))))
    return err, True


def ce_formula_err(rng: np.random.Generator) -> float:
    """dL/dz of mean cross-entropy is (softmax - onehot) / B: the formula against central differences."""
    z = rng.normal(size=(4, 5))
    t = np.array([1, 0, 4, 2])
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    formula = (p - np.eye(5)[t]) / len(t)
    zz = z.copy()
    numeric = numerical_grad(lambda: float(cross_entropy(Tensor(zz), t).data), zz, 1e-6)
    return float(np.max(np.abs(formula - numeric)))


def matmul_formula_err(rng: np.random.Generator) -> float:
    """For C = A @ B with upstream dC, dA = dC @ B^T: the formula against central differences."""
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    up = rng.normal(size=(3, 2))
    aa = a.copy()
    numeric_a = numerical_grad(lambda: float(np.sum((aa @ b) * up)), aa, 1e-6)
    return float(np.max(np.abs(up @ b.T - numeric_a)))
