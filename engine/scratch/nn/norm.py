"""Normalisation layers over the last axis (LayerNorm, RMSNorm) and over the batch (BatchNorm1d).

LayerNorm and RMSNorm run as fused ops (engine.scratch.autograd.tensor.layer_norm / rms_norm, each one
graph node with a closed-form backward); BatchNorm is composed from elementary ops.
eps always sits *inside* the square root: x / sqrt(var + eps). Putting it outside breaks on
an all-zero row (0 / (0 + eps) is fine, but the gradient of sqrt at 0 is infinite).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor, layer_norm, rms_norm
from engine.scratch.nn.module import Module, Parameter


class LayerNorm(Module):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, statistics per row over the last axis."""

    def __init__(self, dim: int, eps: float = 1e-5, dtype: Any = np.float32) -> None:
        super().__init__()
        self.eps = eps
        self.weight = Parameter(np.ones(dim), dtype=dtype)
        self.bias = Parameter(np.zeros(dim), dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.weight, self.bias, self.eps)


class RMSNorm(Module):
    """y = gamma * x / sqrt(mean(x^2) + eps): no centring, no beta (fewer passes than LayerNorm)."""

    def __init__(self, dim: int, eps: float = 1e-6, dtype: Any = np.float32) -> None:
        super().__init__()
        self.eps = eps
        self.weight = Parameter(np.ones(dim), dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.weight, self.eps)


class BatchNorm1d(Module):
    """Normalise each feature over the batch (N, C). Training uses batch statistics and updates
    running mean/var (unbiased, momentum 0.1, as PyTorch); eval uses the running values."""

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1, dtype: Any = np.float32) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(np.ones(dim), dtype=dtype)
        self.bias = Parameter(np.zeros(dim), dtype=dtype)
        self.register_buffer("running_mean", np.zeros(dim, dtype=dtype))
        self.register_buffer("running_var", np.ones(dim, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            scale = (self.running_var + self.eps) ** -0.5
            return (x - self.running_mean) * scale * self.weight + self.bias
        mean = x.mean(axis=0, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=0, keepdims=True)
        n = x.shape[0]
        m = self.momentum
        self._set_buffer("running_mean", (1 - m) * self.running_mean + m * mean.data.reshape(-1))
        unbiased = var.data.reshape(-1) * (n / max(n - 1, 1))
        self._set_buffer("running_var", (1 - m) * self.running_var + m * unbiased)
        return centered * (var + self.eps) ** -0.5 * self.weight + self.bias
