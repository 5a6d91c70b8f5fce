"""A pre-norm MLP block and a deep stack of them, with or without the skip connection (phase 10).

Phase 10 lab 04 trains 50 such blocks with and without residuals to show that the skip path is
what lets the gradient reach the first layer. Both nets are built from the same seed, so they
start from identical weights and differ only in the skip.
"""

from __future__ import annotations

import numpy as np

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn import init
from engine.scratch.nn.container import Residual, Sequential
from engine.scratch.nn.layers import GELU, Linear
from engine.scratch.nn.module import Module
from engine.scratch.nn.norm import RMSNorm


class PreNormMLPBlock(Module):
    """Pre-norm MLP block: RMSNorm -> Linear(h, 4h) -> GELU -> Linear(4h, h), Kaiming-initialised."""

    def __init__(self, h: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.norm = RMSNorm(h)
        self.fc1 = Linear(h, 4 * h, rng=rng)
        self.act = GELU()
        self.fc2 = Linear(4 * h, h, rng=rng)
        init.kaiming_normal_(self.fc1.weight, nonlinearity="relu", rng=rng)
        init.kaiming_normal_(self.fc2.weight, nonlinearity="relu", rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


def residual_stack(depth: int, dim: int, h: int, residual: bool, seed: int,
                   n_out: int = 2) -> tuple[Sequential, PreNormMLPBlock]:
    """stem Linear(dim, h), `depth` blocks (each wrapped in Residual, skip on or off), RMSNorm, a
    Linear(h, n_out) head; returns the net and its first block (whose gradient the lab tracks)."""
    rng = np.random.default_rng(seed)
    stem = Linear(dim, h, rng=rng)
    blocks = [PreNormMLPBlock(h, rng) for _ in range(depth)]
    net = Sequential(stem, *[Residual(b, enabled=residual) for b in blocks], RMSNorm(h), Linear(h, n_out, rng=rng))
    return net, blocks[0]
