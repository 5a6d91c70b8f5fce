"""Optimizers with PyTorch's update rules, so they can be checked step by step against torch.optim.

- SGD: PyTorch's (undampened) momentum, v = mu*v + g (v starts as the first g), p -= lr*v.
  The course lab's dampened form v = mu*v + (1-mu)*g is `dampening=mu`.
- Adam: m, v exponential averages, bias correction with a per-parameter step count starting
  at 1, p -= lr * m_hat / (sqrt(v_hat) + eps); `weight_decay` is L2 added to the gradient.
- AdamW: the same, but weight decay is decoupled: p *= 1 - lr*wd before the Adam step.
State is keyed by `id(param)`; a parameter whose grad is None is skipped. Updates write into
`p.data` in place, so parameter objects (and anything holding them) stay the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor


class Optimizer:
    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.lr = lr
        self.state: dict[int, dict[str, Any]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr)
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def step(self) -> None:
        mu = self.momentum
        for p in self.params:
            if p.grad is None:
                continue
            d = p.grad if self.weight_decay == 0 else p.grad + self.weight_decay * p.data
            if mu != 0:
                st = self.state.setdefault(id(p), {})
                buf = st.get("momentum_buffer")
                buf = np.array(d, copy=True) if buf is None else mu * buf + (1 - self.dampening) * d
                st["momentum_buffer"] = buf
                d = d + mu * buf if self.nesterov else buf
            p.data -= (self.lr * d).astype(p.data.dtype, copy=False)


class Adam(Optimizer):
    decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def step(self) -> None:
        b1, b2 = self.betas
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay != 0:
                if self.decoupled:
                    p.data *= 1 - self.lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p.data
            st = self.state.setdefault(id(p), {"t": 0, "m": np.zeros_like(p.data), "v": np.zeros_like(p.data)})
            st["t"] += 1
            t = st["t"]
            st["m"] = b1 * st["m"] + (1 - b1) * g
            st["v"] = b2 * st["v"] + (1 - b2) * g * g
            bc1 = 1 - b1**t
            bc2 = 1 - b2**t
            denom = np.sqrt(st["v"]) / np.sqrt(bc2) + self.eps
            p.data -= ((self.lr / bc1) * st["m"] / denom).astype(p.data.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01, as torch.optim.AdamW)."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
