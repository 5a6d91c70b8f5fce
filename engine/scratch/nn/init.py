"""Weight initialisers (in place, on a Tensor's data), with PyTorch's gain and fan conventions.

fan_in/fan_out of a 2-D weight (out, in) are (in, out). Xavier/Glorot keeps variance across
a layer with Var(W) = gain^2 * 2 / (fan_in + fan_out); Kaiming/He keeps it through ReLU with
Var(W) = gain^2 / fan (gain sqrt(2) for ReLU). Uniform variants use bound = sqrt(3 * Var).
"""

from __future__ import annotations

import math

import numpy as np

from engine.scratch.autograd.tensor import Tensor

_SECOND_MOMENT = {"gelu": 0.42522148257030007, "silu": 0.35577551981735256}  # E[f(x)^2], x ~ N(0, 1)
_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain for linear/sigmoid/tanh/relu/leaky_relu/selu, plus GELU and SiLU.

    torch has no gain for GELU or SiLU. We use the same rule that gives ReLU its sqrt(2):
    gain = 1 / sqrt(E[f(x)^2]) for x ~ N(0, 1), which keeps the second moment through a layer.
    E[GELU(x)^2] = 0.42522 and E[SiLU(x)^2] = 0.35578 (numerical quadrature), so the gains
    are 1.5335 and 1.6765 — a little above ReLU's, not equal to it.
    """
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity in _SECOND_MOMENT:
        return 1.0 / math.sqrt(_SECOND_MOMENT[nonlinearity])
    return _GAINS[nonlinearity]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError("fan_in/fan_out need a weight with at least 2 dims")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


def uniform_(t: Tensor, low: float, high: float, rng: np.random.Generator | None = None) -> Tensor:
    t.data[...] = _rng(rng).uniform(low, high, size=t.shape)
    return t


def normal_(t: Tensor, std: float, rng: np.random.Generator | None = None) -> Tensor:
    t.data[...] = _rng(rng).normal(0.0, std, size=t.shape)
    return t


def zeros_(t: Tensor) -> Tensor:
    t.data[...] = 0
    return t


def ones_(t: Tensor) -> Tensor:
    t.data[...] = 1
    return t


def xavier_uniform_(t: Tensor, gain: float = 1.0, rng: np.random.Generator | None = None) -> Tensor:
    fan_in, fan_out = fans(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, rng)


def xavier_normal_(t: Tensor, gain: float = 1.0, rng: np.random.Generator | None = None) -> Tensor:
    fan_in, fan_out = fans(t.shape)
    return normal_(t, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
    rng: np.random.Generator | None = None,
) -> Tensor:
    fan = fans(t.shape)[0 if mode == "fan_in" else 1]
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound, rng)


def kaiming_normal_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
    rng: np.random.Generator | None = None,
) -> Tensor:
    fan = fans(t.shape)[0 if mode == "fan_in" else 1]
    return normal_(t, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)
