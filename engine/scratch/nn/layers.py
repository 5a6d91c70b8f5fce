"""Layers: Linear (weight stored out x in, as PyTorch), Embedding, activations, losses.

Every layer that draws random numbers takes an `rng` (a numpy Generator) so that a lab's
seed decides every weight; without one a fresh unseeded generator is used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor, cross_entropy, linear
from engine.scratch.nn import init
from engine.scratch.nn.module import Module, Parameter


class Linear(Module):
    """y = x @ W.T + b, W of shape (out, in) drawn U(-1/sqrt(in), 1/sqrt(in)); b starts at 0.

    The forward is the fused `linear` op (one graph node); `x @ W.T + b` gives the same numbers.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = Parameter(np.zeros((out_features, in_features)), dtype=dtype)
        init.uniform_(self.weight, -bound, bound, rng)
        self.bias = Parameter(np.zeros(out_features), dtype=dtype) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A (num, dim) table looked up by integer ids; init N(0, std) (0.02 is the GPT habit)."""

    def __init__(self, num: int, dim: int, std: float = 1.0, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.weight = Parameter(np.zeros((num, dim)), dtype=dtype)
        init.normal_(self.weight, std, rng)

    def forward(self, ids: Any) -> Tensor:
        return self.weight[np.asarray(ids, dtype=np.int64)]


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class GELU(Module):
    """GELU, tanh approximation (matches torch's approximate='tanh')."""

    def forward(self, x: Tensor) -> Tensor:
        return x.gelu()


class SiLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.silu()


class Softmax(Module):
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return x.softmax(self.axis)


class CrossEntropyLoss(Module):
    """Mean cross-entropy of logits (N, C) against integer targets (N,)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: Tensor, targets: Any) -> Tensor:
        return cross_entropy(logits, targets, self.reduction)


class MSELoss(Module):
    def forward(self, pred: Tensor, target: Any) -> Tensor:
        diff = pred - target
        return (diff * diff).mean()
