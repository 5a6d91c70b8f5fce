"""Tensor reverse-mode autograd over NumPy (phase 08).

Design:
- A `Tensor` holds `data` (an ndarray), a lazy `grad` (None until backward reaches it), its
  parents `_prev`, the op name `_op`, and a `_backward` closure that *adds* this node's
  contribution into each parent's grad. Only parents with `requires_grad` are tracked, and
  inside `no_grad()` no graph is recorded at all.
- dtype: float32 by default (Python numbers, lists and integer arrays become float32); a
  floating ndarray keeps its dtype, so pass float64 arrays for gradchecks and oracle tests.
- Broadcasting: the forward uses NumPy's rules; every backward passes its gradient through
  `unbroadcast(grad, shape)`, which sums over the axes that broadcasting created or stretched.
  Without it (the phase-08 break, `set_unbroadcast(False)`) a (3,) + (4,3) add hands a (4,3)
  gradient to the (3,) parent.
- `backward()` needs a scalar root (shape ()), seeds 1 and walks the graph in reverse
  topological order (iterative, no recursion limit).
- Functional only: ops return new tensors; in-place `+=` on a Tensor raises.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_DTYPE = np.float32
_GRAD_ENABLED = True
_UNBROADCAST = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block ops record no graph (inference, optimizer updates, evaluation)."""
    global _GRAD_ENABLED
    prev, _GRAD_ENABLED = _GRAD_ENABLED, False
    try:
        yield
    finally:
        _GRAD_ENABLED = prev


def is_grad_enabled() -> bool:
    return _GRAD_ENABLED


@contextlib.contextmanager
def set_unbroadcast(enabled: bool) -> Iterator[None]:
    """Switch the broadcasting reduction in backward off: the phase-08 break, for teaching only."""
    global _UNBROADCAST
    prev, _UNBROADCAST = _UNBROADCAST, enabled
    try:
        yield
    finally:
        _UNBROADCAST = prev


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`: leading extra axes, then axes where `shape` has size 1."""
    if not _UNBROADCAST or grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _as_array(data: Any, dtype: npt.DTypeLike | None) -> np.ndarray:
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray) and np.issubdtype(data.dtype, np.floating):
        return data
    if isinstance(data, (np.floating,)):
        return np.asarray(data)
    return np.asarray(data, dtype=DEFAULT_DTYPE)


class Tensor:
    """An n-d array node: `data`, lazy `grad`, `requires_grad`, parents and a backward rule."""

    __slots__ = ("data", "grad", "requires_grad", "_prev", "_op", "_backward", "label", "__weakref__")

    def __init__(
        self,
        data: Any,
        *,
        requires_grad: bool = False,
        dtype: npt.DTypeLike | None = None,
        _prev: tuple[Tensor, ...] = (),
        _op: str = "",
        label: str = "",
    ) -> None:
        self.data: np.ndarray = _as_array(data.data if isinstance(data, Tensor) else data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self._prev = _prev
        self._op = _op
        self._backward: Callable[[np.ndarray], None] | None = None
        self.label = label

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def numel(self) -> int:
        return int(self.data.size)

    def item(self) -> float:
        return float(self.data)

    def numpy(self) -> np.ndarray:
        return self.data

    def detach(self) -> Tensor:
        """Same data, no history, no grad."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        """Grads are lazy: zeroing sets them back to None."""
        self.grad = None

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, threshold=20, edgeitems=2)
        grad = "None" if self.grad is None else f"shape{self.grad.shape}"
        return f"Tensor(shape={self.shape}, data={body}, grad={grad}, op={self._op!r})"

    def __iadd__(self, other: Any) -> Tensor:
        raise NotImplementedError("Tensor ops are functional: write `x = x + y`, not `x += y`")

    __isub__ = __imul__ = __itruediv__ = __iadd__

    def __len__(self) -> int:
        return len(self.data)

    # ------------------------------------------------------------------ graph plumbing
    def _make(
        self, data: np.ndarray, parents: tuple[Tensor, ...], op: str, backward: Callable[[np.ndarray], None]
    ) -> Tensor:
        track = _GRAD_ENABLED and any(p.requires_grad for p in parents)
        out = Tensor(data, dtype=data.dtype, _prev=parents if track else (), _op=op if track else "")
        if track:
            out.requires_grad = True
            out._backward = backward
        return out

    def _accum(self, g: np.ndarray) -> None:
        if self.grad is None:
            self.grad = np.array(g, dtype=self.data.dtype, copy=True) if g.shape == self.shape else g.astype(self.data.dtype)
        else:
            self.grad = self.grad + g

    def _lift(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other
        return Tensor(np.asarray(other, dtype=self.data.dtype))

    def topo(self) -> list[Tensor]:
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(node._prev) if id(p) not in visited)
        return order

    def backward(self, grad: np.ndarray | None = None) -> None:
        """Back-propagate from a scalar root (or from `grad`, an upstream gradient of self's shape)."""
        if grad is None:
            if self.data.shape != ():
                raise RuntimeError(f"backward() needs a scalar root, got shape {self.shape}")
            grad = np.ones_like(self.data)
        self._accum(np.asarray(grad, dtype=self.data.dtype))
        for node in reversed(self.topo()):
            if node._backward is not None and node.grad is not None:
                node._backward(node.grad)

    # ------------------------------------------------------------------ elementwise binary
    def __add__(self, other: Any) -> Tensor:
        o = self._lift(other)

        def bw(g: np.ndarray) -> None:
            if self.requires_grad:
                self._accum(unbroadcast(g, self.shape))
            if o.requires_grad:
                o._accum(unbroadcast(g, o.shape))

        return self._make(self.data + o.data, (self, o), "+", bw)

    def __radd__(self, other: Any) -> Tensor:
        return self._lift(other) + self

    def __sub__(self, other: Any) -> Tensor:
        o = self._lift(other)

        def bw(g: np.ndarray) -> None:
            if self.requires_grad:
                self._accum(unbroadcast(g, self.shape))
            if o.requires_grad:
                o._accum(unbroadcast(-g, o.shape))

        return self._make(self.data - o.data, (self, o), "-", bw)

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __mul__(self, other: Any) -> Tensor:
        o = self._lift(other)

        def bw(g: np.ndarray) -> None:
            if self.requires_grad:
                self._accum(unbroadcast(g * o.data, self.shape))
            if o.requires_grad:
                o._accum(unbroadcast(g * self.data, o.shape))

        return self._make(self.data * o.data, (self, o), "*", bw)

    def __rmul__(self, other: Any) -> Tensor:
        return self._lift(other) * self

    def __truediv__(self, other: Any) -> Tensor:
        o = self._lift(other)

        def bw(g: np.ndarray) -> None:
            if self.requires_grad:
                self._accum(unbroadcast(g / o.data, self.shape))
            if o.requires_grad:
                o._accum(unbroadcast(-g * self.data / (o.data * o.data), o.shape))

        return self._make(self.data / o.data, (self, o), "/", bw)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __neg__(self) -> Tensor:
        def bw(g: np.ndarray) -> None:
            self._accum(-g)

        return self._make(-self.data, (self,), "neg", bw)

    def __pow__(self, n: float) -> Tensor:
        """Elementwise `x ** n` for a constant exponent."""
        if not isinstance(n, (int, float)):
            raise TypeError("Tensor ** n needs an int/float exponent")
        x = self.data

        def bw(g: np.ndarray) -> None:
            self._accum(g * (n * x ** (n - 1)))

        return self._make(x**n, (self,), f"**{n:g}", bw)

    # ------------------------------------------------------------------ elementwise unary
    def exp(self) -> Tensor:
        out_data = np.exp(self.data)

        def bw(g: np.ndarray) -> None:
            self._accum(g * out_data)

        return self._make(out_data, (self,), "exp", bw)

    def log(self) -> Tensor:
        if np.any(self.data <= 0):
            raise ValueError("log of a non-positive entry")

        def bw(g: np.ndarray) -> None:
            self._accum(g / self.data)

        return self._make(np.log(self.data), (self,), "log", bw)

    def sqrt(self) -> Tensor:
        return self**0.5

    def relu(self) -> Tensor:
        """max(0, x); gradient 0 at exactly 0."""
        mask = self.data > 0

        def bw(g: np.ndarray) -> None:
            self._accum(g * mask)

        return self._make(self.data * mask, (self,), "relu", bw)

    def tanh(self) -> Tensor:
        t = np.tanh(self.data)

        def bw(g: np.ndarray) -> None:
            self._accum(g * (1 - t * t))

        return self._make(t, (self,), "tanh", bw)

    def sigmoid(self) -> Tensor:
        s = 0.5 * (1 + np.tanh(0.5 * self.data))  # stable for large |x|

        def bw(g: np.ndarray) -> None:
            self._accum(g * s * (1 - s))

        return self._make(s, (self,), "sigmoid", bw)

    def silu(self) -> Tensor:
        """x * sigmoid(x); derivative s + x s (1 - s)."""
        x = self.data
        s = 0.5 * (1 + np.tanh(0.5 * x))

        def bw(g: np.ndarray) -> None:
            self._accum(g * (s + x * s * (1 - s)))

        return self._make(x * s, (self,), "silu", bw)

    def gelu(self) -> Tensor:
        """GELU, tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) (torch approximate='tanh')."""
        x = self.data
        c = math.sqrt(2.0 / math.pi)
        x2 = x * x
        t = np.tanh(c * x * (1 + 0.044715 * x2))

        def bw(g: np.ndarray) -> None:
            dinner = c * (1 + 3 * 0.044715 * x2)
            self._accum(g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner))

        return self._make(0.5 * x * (1 + t), (self,), "gelu", bw)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        shape = self.shape

        def bw(g: np.ndarray) -> None:
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            self._accum(np.broadcast_to(g, shape))

        return self._make(np.asarray(self.data.sum(axis=axis, keepdims=keepdims)), (self,), "sum", bw)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        n = self.data.size // max(np.asarray(self.data.sum(axis=axis, keepdims=keepdims)).size, 1)
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / n)

    def var(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Biased variance (divide by N), as normalisation layers use it."""
        centered = self - self.mean(axis=axis, keepdims=True)
        return (centered * centered).mean(axis=axis, keepdims=keepdims)

    def max(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Max along an axis; the gradient is shared equally among tied maxima (like torch.amax)."""
        m = self.data.max(axis=axis, keepdims=True)
        mask = self.data == m
        count = mask.sum(axis=axis, keepdims=True)
        out = m if keepdims else (m.reshape(()) if axis is None else np.squeeze(m, axis=axis))

        def bw(g: np.ndarray) -> None:
            if not keepdims:
                g = g.reshape(m.shape)
            self._accum(mask * (g / count))

        return self._make(np.asarray(out), (self,), "max", bw)

    # ------------------------------------------------------------------ shape ops
    def reshape(self, *shape: Any) -> Tensor:
        new_shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        old = self.shape

        def bw(g: np.ndarray) -> None:
            self._accum(g.reshape(old))

        return self._make(self.data.reshape(new_shape), (self,), "reshape", bw)

    def transpose(self, axes: Sequence[int] | None = None) -> Tensor:
        perm = tuple(range(self.ndim))[::-1] if axes is None else tuple(axes)
        inv = tuple(np.argsort(perm))

        def bw(g: np.ndarray) -> None:
            self._accum(g.transpose(inv))

        return self._make(self.data.transpose(perm), (self,), "transpose", bw)

    @property
    def T(self) -> Tensor:  # noqa: N802
        return self.transpose()

    def swapaxes(self, a: int, b: int) -> Tensor:
        perm = list(range(self.ndim))
        perm[a], perm[b] = perm[b], perm[a]
        return self.transpose(perm)

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        old = self.shape

        def bw(g: np.ndarray) -> None:
            self._accum(unbroadcast(g, old))

        return self._make(np.broadcast_to(self.data, shape), (self,), "broadcast_to", bw)

    def __getitem__(self, key: Any) -> Tensor:
        if isinstance(key, Tensor):
            key = key.data.astype(np.int64)

        def bw(g: np.ndarray) -> None:
            full = np.zeros_like(self.data)
            np.add.at(full, key, g)
            self._accum(full)

        return self._make(np.asarray(self.data[key]), (self,), "getitem", bw)

    # ------------------------------------------------------------------ matmul
    def __matmul__(self, other: Any) -> Tensor:
        o = self._lift(other)
        a, b = self.data, o.data

        def bw(g: np.ndarray) -> None:
            a2 = a[None, :] if a.ndim == 1 else a  # promote 1-D operands as numpy does
            b2 = b[:, None] if b.ndim == 1 else b
            g2 = g
            if b.ndim == 1:
                g2 = np.expand_dims(g2, -1)
            if a.ndim == 1:
                g2 = np.expand_dims(g2, -2)
            if self.requires_grad:
                ga = g2 @ np.swapaxes(b2, -1, -2)
                ga = unbroadcast(ga, a2.shape)
                self._accum(ga.reshape(a.shape))
            if o.requires_grad:
                gb = np.swapaxes(a2, -1, -2) @ g2
                gb = unbroadcast(gb, b2.shape)
                o._accum(gb.reshape(b.shape))

        return self._make(np.asarray(a @ b), (self, o), "@", bw)

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    # ------------------------------------------------------------------ softmax family
    def softmax(self, axis: int = -1) -> Tensor:
        z = self.data - self.data.max(axis=axis, keepdims=True)
        e = np.exp(z)
        s = e / e.sum(axis=axis, keepdims=True)

        def bw(g: np.ndarray) -> None:
            self._accum(s * (g - (g * s).sum(axis=axis, keepdims=True)))

        return self._make(s, (self,), "softmax", bw)

    def log_softmax(self, axis: int = -1) -> Tensor:
        z = self.data - self.data.max(axis=axis, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
        out = z - lse

        def bw(g: np.ndarray) -> None:
            self._accum(g - np.exp(out) * g.sum(axis=axis, keepdims=True))

        return self._make(out, (self,), "log_softmax", bw)


# ---------------------------------------------------------------------- module-level ops
def tensor(data: Any, requires_grad: bool = False, dtype: npt.DTypeLike | None = None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def cat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Concatenate along `axis`; backward splits the gradient back by the input sizes."""
    sizes = [t.shape[axis] for t in tensors]
    cuts = np.cumsum(sizes)[:-1]
    data = np.concatenate([t.data for t in tensors], axis=axis)

    def bw(g: np.ndarray) -> None:
        for t, piece in zip(tensors, np.split(g, cuts, axis=axis), strict=True):
            if t.requires_grad:
                t._accum(piece)

    return tensors[0]._make(data, tuple(tensors), "cat", bw)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Stack along a new axis; backward takes each slice back."""
    data = np.stack([t.data for t in tensors], axis=axis)

    def bw(g: np.ndarray) -> None:
        for i, t in enumerate(tensors):
            if t.requires_grad:
                t._accum(np.take(g, i, axis=axis))

    return tensors[0]._make(data, tuple(tensors), "stack", bw)


def where(cond: np.ndarray, a: Tensor, b: Tensor) -> Tensor:
    """Pick from a where cond is true, else from b (cond is a plain boolean array)."""
    cond = np.asarray(cond, dtype=bool)

    def bw(g: np.ndarray) -> None:
        if a.requires_grad:
            a._accum(unbroadcast(np.where(cond, g, 0), a.shape))
        if b.requires_grad:
            b._accum(unbroadcast(np.where(cond, 0, g), b.shape))

    return a._make(np.where(cond, a.data, b.data), (a, b), "where", bw)


def cross_entropy(logits: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Fused softmax + negative log-likelihood over the last axis.

    `logits` is (N, C) (or (C,) for one example); `targets` are integer class ids, a plain
    int array (one-hot or float targets are rejected). Forward: logsumexp - logit[target],
    never log(softmax). Backward: (softmax - onehot) * upstream, divided by N for 'mean'.
    """
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"cross_entropy targets must be integer class ids, got dtype {t.dtype}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be mean|sum|none, got {reduction!r}")
    x = logits.data
    single = x.ndim == 1
    x2 = x[None, :] if single else x
    t2 = t.reshape(-1)
    n = x2.shape[0]
    if t2.shape[0] != n:
        raise ValueError(f"{n} rows of logits but {t2.shape[0]} targets")
    z = x2 - x2.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    rows = np.arange(n)
    losses = lse - z[rows, t2]
    if reduction == "mean":
        out = np.asarray(losses.mean())
    elif reduction == "sum":
        out = np.asarray(losses.sum())
    else:
        out = losses[0] if single else losses

    def bw(g: np.ndarray) -> None:
        p = np.exp(z - lse[:, None])
        p[rows, t2] -= 1.0
        if reduction == "mean":
            p *= g / n
        elif reduction == "sum":
            p *= g
        else:
            p *= np.reshape(g, (n, 1))
        logits._accum(p[0] if single else p)

    return logits._make(np.asarray(out, dtype=x.dtype), (logits,), "cross_entropy", bw)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Fused x @ W^T + b for x (..., in), W (out, in): one graph node instead of three.

    Backward: dx = g @ W, dW = g^T @ x and db = sum of g, both summed over the leading axes.
    """
    xd, wd = x.data, weight.data
    out = xd @ wd.T
    if bias is not None:
        out = out + bias.data
    parents = (x, weight) if bias is None else (x, weight, bias)

    def bw(g: np.ndarray) -> None:
        if x.requires_grad:
            x._accum(g @ wd)
        g2 = g.reshape(-1, g.shape[-1])
        if weight.requires_grad:
            weight._accum(g2.T @ xd.reshape(-1, xd.shape[-1]))
        if bias is not None and bias.requires_grad:
            bias._accum(g2.sum(axis=0))

    return x._make(out, parents, "linear", bw)


def rms_norm(x: Tensor, weight: Tensor, eps: float = 1e-6) -> Tensor:
    """Fused y = w * x / sqrt(mean(x^2, last axis) + eps), with its closed-form backward."""
    xd = x.data
    r = 1.0 / np.sqrt((xd * xd).mean(axis=-1, keepdims=True) + eps)
    xhat = xd * r

    def bw(g: np.ndarray) -> None:
        if weight.requires_grad:
            weight._accum((g * xhat).reshape(-1, xd.shape[-1]).sum(axis=0))
        if x.requires_grad:
            dxhat = g * weight.data
            x._accum(r * (dxhat - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)))

    return x._make(xhat * weight.data, (x, weight), "rms_norm", bw)


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """Fused y = w * (x - mean) / sqrt(var + eps) + b over the last axis, with its closed-form backward."""
    xd = x.data
    centered = xd - xd.mean(axis=-1, keepdims=True)
    r = 1.0 / np.sqrt((centered * centered).mean(axis=-1, keepdims=True) + eps)
    xhat = centered * r

    def bw(g: np.ndarray) -> None:
        d = xd.shape[-1]
        if weight.requires_grad:
            weight._accum((g * xhat).reshape(-1, d).sum(axis=0))
        if bias.requires_grad:
            bias._accum(g.reshape(-1, d).sum(axis=0))
        if x.requires_grad:
            dxhat = g * weight.data
            x._accum(r * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                          - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)))

    return x._make(xhat * weight.data + bias.data, (x, weight, bias), "layer_norm", bw)
