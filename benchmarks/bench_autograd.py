"""Autograd speed, as ratios measured in one run (no absolute targets: machines differ).

1. Scalar: forward + backward of the phase-07 MLP(5, [4, 5]) on the tense-identity task
   (SSE over 25 outputs) with `engine.scratch.autograd.Value`, against a micrograd-style baseline
   written below (a closure per op, recursive topological sort). Target: >= 2x faster.
2. Tensor: one training step (forward, cross-entropy, backward, Adam) of the phase-09 MLP
   Linear(d, 32) -> GELU -> Linear(32, 6) with our Tensor/nn/optim, against the same model in
   torch eager on CPU. Target: within 2x of torch at batch 64; batch 8 and 512 reported too.

Run: .venv/bin/python benchmarks/bench_autograd.py [--repeats N]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable

import numpy as np

from engine.labs._tense_data import identity_task
from engine.labs.p07_scalar_autograd import MLP
from engine.scratch.autograd.scalar import Value
from engine.scratch.autograd.tensor import Tensor, cross_entropy
from engine.scratch.nn import GELU, Linear, Sequential
from engine.scratch.optim import Adam


# ---------------------------------------------------------------------- micrograd-style baseline
class RValue:
    """The textbook design: one closure per node, recursive DFS in backward."""

    def __init__(self, data: float, _children: tuple = (), _op: str = "") -> None:
        self.data = data
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other: RValue | float) -> RValue:
        other = other if isinstance(other, RValue) else RValue(other)
        out = RValue(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: RValue | float) -> RValue:
        other = other if isinstance(other, RValue) else RValue(other)
        out = RValue(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, n: float) -> RValue:
        out = RValue(self.data**n, (self,), f"**{n}")

        def _backward() -> None:
            self.grad += n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> RValue:
        return self * -1

    def __sub__(self, other: RValue | float) -> RValue:
        return self + (-other)

    def __rmul__(self, other: float) -> RValue:
        return self * other

    def tanh(self) -> RValue:
        t = math.tanh(self.data)
        out = RValue(t, (self,), "tanh")

        def _backward() -> None:
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        topo: list[RValue] = []
        visited: set[RValue] = set()

        def build(v: RValue) -> None:
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)

        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


class RNeuron:
    def __init__(self, n_in: int, rng: random.Random) -> None:
        self.w = [RValue(rng.uniform(-1, 1)) for _ in range(n_in)]
        self.b = RValue(0.0)

    def __call__(self, xs: list) -> RValue:
        act = self.b
        for wi, xi in zip(self.w, xs, strict=True):
            act = act + wi * xi
        return act.tanh()


class RMLP:
    def __init__(self, n_in: int, sizes: list[int], rng: random.Random) -> None:
        dims = [n_in, *sizes]
        self.layers = [[RNeuron(dims[i], rng) for _ in range(dims[i + 1])] for i in range(len(sizes))]

    def __call__(self, xs: list) -> list:
        h = xs
        for layer in self.layers:
            h = [n(h) for n in layer]
        return h


def _sse(model: Callable, zero: Callable[[], object]) -> object:
    xs, ys, _ = identity_task()
    loss = zero()
    for x, y in zip(xs, ys, strict=True):
        for out, target in zip(model(x), y, strict=True):
            loss = loss + (out - target) ** 2
    return loss


def _best_of(fn: Callable[[], None], repeats: int, inner: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return min(times)


def bench_scalar(repeats: int) -> tuple[float, float]:
    ours = MLP(5, [4, 5], random.Random(0))
    base = RMLP(5, [4, 5], random.Random(0))

    def run_ours() -> None:
        _sse(ours, lambda: Value(0.0)).backward()  # type: ignore[attr-defined]

    def run_base() -> None:
        _sse(base, lambda: RValue(0.0)).backward()  # type: ignore[attr-defined]

    run_ours()
    run_base()
    return _best_of(run_ours, repeats, 50), _best_of(run_base, repeats, 50)


def bench_tensor(batch: int, repeats: int, d: int = 168, hidden: int = 32, k: int = 6) -> tuple[float, float]:
    import torch

    rng = np.random.default_rng(0)
    x = (rng.random((batch, d)) < 0.05).astype(np.float32)
    y = rng.integers(0, k, size=batch)
    model = Sequential(Linear(d, hidden, rng=rng), GELU(), Linear(hidden, k, rng=rng))
    opt = Adam(list(model.parameters()), lr=1e-2)
    xt = Tensor(x)

    def step_ours() -> None:
        opt.zero_grad()
        cross_entropy(model(xt), y).backward()
        opt.step()

    tmodel = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(hidden, k))
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step_torch() -> None:
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(tx), ty).backward()
        topt.step()

    for _ in range(20):
        step_ours()
        step_torch()
    inner = max(10, 2000 // batch)
    return _best_of(step_ours, repeats, inner), _best_of(step_torch, repeats, inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    ours, base = bench_scalar(args.repeats)
    print(f"scalar MLP(5,[4,5]) fwd+bwd  ours {ours * 1e3:8.3f} ms   recursive baseline {base * 1e3:8.3f} ms"
          f"   speedup {base / ours:5.2f}x   (target >= 2x)")
    try:
        import torch
    except ImportError:
        print("torch not installed: tensor comparison skipped")
        return
    torch.set_num_threads(1)
    ratios = {}
    for batch in (8, 64, 512):
        o, t = bench_tensor(batch, args.repeats)
        ratios[batch] = o / t
        print(f"phase-09 MLP train step b={batch:<4d} ours {o * 1e3:8.3f} ms   torch eager {t * 1e3:8.3f} ms"
              f"   ours/torch {o / t:5.2f}x   {'(target <= 2x)' if batch == 64 else ''}")
    print(f"summary: scalar speedup {base / ours:.2f}x; tensor/torch at b=64 {ratios[64]:.2f}x "
          f"(median over batches {statistics.median(ratios.values()):.2f}x)")


if __name__ == "__main__":
    main()
