"""Scalar reverse-mode autograd: one `Value` wraps one Python float.

Why it looks the way it does (phase 07):
- Every op records its parents and the *local* derivative of its output with respect to
  each parent, computed once in the forward pass. Backward is then one loop
  `parent.grad += local * node.grad` over the graph in reverse topological order, with no
  closure per node; this keeps the class small and faster than the
  closure-per-op design of micrograd (benchmarks/bench_autograd.py: about 2.5-3x).
- The topological sort is iterative (an explicit stack), so a chain 10^5 nodes deep
  back-propagates without touching Python's recursion limit. It visits nodes in exactly the
  order of the textbook recursive DFS (children in `_prev` order, post-order).
- Gradients accumulate (`+=`): a node used twice (the diamond) collects both paths.
  `backward()` never zeroes anything; the caller does.
- Pure Python: `math` only, no NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

Number = int | float


class Value:
    """A scalar node of a computation graph: `data`, `grad`, parents `_prev`, op name `_op`."""

    __slots__ = ("data", "grad", "_prev", "_local", "_op", "label")

    def __init__(
        self,
        data: Number,
        _prev: tuple[Value, ...] = (),
        _op: str = "",
        _local: tuple[float, ...] = (),
        label: str = "",
    ) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev
        self._local = _local  # d(self)/d(parent) for each parent, same order as _prev
        self._op = _op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.4f}, grad={self.grad:.4f})"

    # ------------------------------------------------------------------ binary ops
    # A plain int/float operand is a constant: it gets no node of its own, only its local
    # derivative is recorded (fewer nodes to sort and walk; the gradients are the same).
    def __add__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), "+", (1.0, 1.0))
        return Value(self.data + other, (self,), "+", (1.0,))

    def __radd__(self, other: Number) -> Value:
        return Value(other + self.data, (self,), "+", (1.0,))

    def __sub__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), "-", (1.0, -1.0))
        return Value(self.data - other, (self,), "-", (1.0,))

    def __rsub__(self, other: Number) -> Value:
        return Value(other - self.data, (self,), "-", (-1.0,))

    def __mul__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), "*", (other.data, self.data))
        return Value(self.data * other, (self,), "*", (float(other),))

    def __rmul__(self, other: Number) -> Value:
        return Value(other * self.data, (self,), "*", (float(other),))

    def __truediv__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            b = other.data
            return Value(self.data / b, (self, other), "/", (1.0 / b, -self.data / (b * b)))
        return Value(self.data / other, (self,), "/", (1.0 / other,))

    def __rtruediv__(self, other: Number) -> Value:
        b = self.data
        return Value(other / b, (self,), "/", (-other / (b * b),))

    def __pow__(self, n: Number) -> Value:
        """`x ** n` for a constant int/float `n`; a `Value` exponent is not supported."""
        if isinstance(n, Value) or not isinstance(n, (int, float)):
            raise TypeError(f"Value ** {type(n).__name__}: only int/float exponents are supported")
        x = self.data
        out = x**n
        if isinstance(out, complex):
            raise ValueError(f"{x} ** {n} is not real")
        local = n * x ** (n - 1) if n != 0 else 0.0
        return Value(out, (self,), f"**{n:g}", (float(local),))

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), "neg", (-1.0,))

    # ------------------------------------------------------------------ unary ops
    def exp(self) -> Value:
        e = math.exp(self.data)
        return Value(e, (self,), "exp", (e,))

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError(f"log of a non-positive value: {self.data}")
        return Value(math.log(self.data), (self,), "log", (1.0 / self.data,))

    def relu(self) -> Value:
        """max(0, x); the subgradient at exactly 0 is 0."""
        x = self.data
        return Value(x if x > 0 else 0.0, (self,), "relu", (1.0 if x > 0 else 0.0,))

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", (1.0 - t * t,))

    # ------------------------------------------------------------------ backward
    def topo(self) -> list[Value]:
        """Nodes reachable from self, parents before children (iterative post-order DFS)."""
        order: list[Value] = []
        visited: set[Value] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        push, pop, mark, emit = stack.append, stack.pop, visited.add, order.append
        while stack:
            node, expanded = pop()
            if expanded:
                emit(node)
                continue
            if node in visited:
                continue
            mark(node)
            push((node, True))
            for child in reversed(node._prev):
                if child not in visited:
                    push((child, False))
        return order

    def backward(self, *, accumulate: bool = True) -> None:
        """Seed d(self)/d(self) = 1 and push gradients to every ancestor.

        Gradients are *added* to `.grad` (zero them yourself between steps).
        `accumulate=False` reproduces the phase-07 break, where every backward rule writes
        `=` instead of `+=`: kept only so the lab can show the wrong numbers it produces.
        """
        self.grad = 1.0
        order = self.topo()
        order.reverse()
        if accumulate:
            for node in order:
                g = node.grad
                for parent, local in zip(node._prev, node._local):  # noqa: B905 (same length by construction)
                    parent.grad += local * g
        else:
            for node in order:
                g = node.grad
                for parent, local in zip(node._prev, node._local):  # noqa: B905
                    parent.grad = local * g


def zero_grad(values: Iterable[Value]) -> None:
    """Set `.grad = 0.0` on each value (the caller's job between backward passes)."""
    for v in values:
        v.grad = 0.0
