"""The phase-18 optimiser plumbing: global-norm clipping and AdamW with two parameter groups,
built on engine.scratch.optim.AdamW's update rule; the learning rate comes from engine.scratch.optim.schedules.

lr(step) = lr_max · step / W for step < W (so step 25 of 100 warmup steps gives 7.5e-5 at 3e-4),
then lr_min + ½(lr_max − lr_min)(1 + cos(π (step − W)/(T − W))), held at lr_min after T:
`schedules.lr_at`, re-exported here for the training loop.
Weight decay applies to matrices and the embedding (ndim >= 2) only, never to biases or norm gains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.optim import AdamW
from engine.scratch.optim.schedules import lr_at

__all__ = ["GroupedAdamW", "clip_grad_norm_", "global_grad_norm", "lr_at"]


def global_grad_norm(params: Iterable[Tensor]) -> float:
    """sqrt of the sum of squares over every gradient (float64 accumulation)."""
    sq = 0.0
    for p in params:
        if p.grad is not None:
            g = p.grad.astype(np.float64, copy=False)
            sq += float(np.dot(g.ravel(), g.ravel()))
    return math.sqrt(sq)


def clip_grad_norm_(params: list[Tensor], max_norm: float | None) -> float:
    """Scale all gradients by one factor so their global norm is at most max_norm; return the norm before."""
    norm = global_grad_norm(params)
    if max_norm is not None and math.isfinite(max_norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * np.asarray(scale, dtype=p.grad.dtype)
    return norm


class GroupedAdamW:
    """AdamW over named parameters: decay on ndim >= 2, none on the rest; state addressable by name."""

    def __init__(self, named: Iterable[tuple[str, Tensor]], lr: float, betas: tuple[float, float] = (0.9, 0.95),
                 eps: float = 1e-8, weight_decay: float = 0.1) -> None:
        seen: set[int] = set()
        self.named: list[tuple[str, Tensor]] = []
        for name, p in named:
            if id(p) not in seen:
                seen.add(id(p))
                self.named.append((name, p))
        decay = [p for _, p in self.named if p.ndim >= 2]
        plain = [p for _, p in self.named if p.ndim < 2]
        self.groups = [AdamW(decay, lr, betas, eps, weight_decay)]
        if plain:
            self.groups.append(AdamW(plain, lr, betas, eps, 0.0))
        self.decay_names = [n for n, p in self.named if p.ndim >= 2]

    @property
    def params(self) -> list[Tensor]:
        return [p for _, p in self.named]

    def set_lr(self, lr: float) -> None:
        for g in self.groups:
            g.lr = lr

    def zero_grad(self) -> None:
        for _, p in self.named:
            p.grad = None

    def step(self) -> None:
        for g in self.groups:
            g.step()

    def _state_of(self, p: Tensor) -> dict | None:
        for g in self.groups:
            if id(p) in g.state:
                return g.state[id(p)]
        return None

    def state_arrays(self) -> dict[str, np.ndarray]:
        """{name.m, name.v, name.t} for every parameter that has taken a step."""
        out: dict[str, np.ndarray] = {}
        for name, p in self.named:
            st = self._state_of(p)
            if st is not None:
                out[f"{name}.m"], out[f"{name}.v"] = st["m"], st["v"]
                out[f"{name}.t"] = np.asarray([st["t"]], dtype=np.int64)
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for g in self.groups:
            g.state.clear()
        for name, p in self.named:
            if f"{name}.m" not in arrays:
                continue
            group = next(g for g in self.groups if any(q is p for q in g.params))
            group.state[id(p)] = {"t": int(arrays[f"{name}.t"][0]), "m": np.array(arrays[f"{name}.m"], copy=True),
                                  "v": np.array(arrays[f"{name}.v"], copy=True)}
