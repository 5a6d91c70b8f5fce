"""Softmax, log-sum-exp and cross-entropy, naive and stable, over the last axis.

exp overflows fp32 past about 88.7 (exp(88.72) = 3.4e38) and underflows below about -103
(denormals) / -87 (normals). Subtracting the max makes the largest exponent 0, so nothing
overflows and at least one term is exactly 1, so the sum cannot underflow to 0. log_softmax
is x - logsumexp(x): it never takes log of a probability that underflowed.

`shift=False` turns the stable functions back into naive ones: the phase-02 break.
A row that is entirely -inf (everything masked) has log-sum-exp -inf and softmax all zeros.
"""

from __future__ import annotations

import numpy as np


def naive_softmax(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(x)
        return e / e.sum(axis=-1, keepdims=True)


def naive_log_sum_exp(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.log(np.exp(x).sum(axis=-1))


def naive_cross_entropy(x: np.ndarray, y: int | np.ndarray) -> np.ndarray:
    """-log(softmax(x)[y]): both the overflow and the log(0) trap."""
    p = naive_softmax(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(np.take_along_axis(p, np.asarray(y)[..., None], axis=-1)[..., 0])


def _max_shift(x: np.ndarray, shift: bool) -> np.ndarray:
    if not shift:
        return np.zeros_like(x[..., :1])
    m = np.max(x, axis=-1, keepdims=True)
    return np.where(np.isfinite(m), m, 0).astype(x.dtype)


def log_sum_exp(x: np.ndarray, shift: bool = True) -> np.ndarray:
    m = _max_shift(x, shift)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.log(np.exp(x - m).sum(axis=-1)) + m[..., 0]


def stable_softmax(x: np.ndarray, shift: bool = True) -> np.ndarray:
    m = _max_shift(x, shift)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(x - m)
        s = e.sum(axis=-1, keepdims=True)
        return np.where(s > 0, e / np.where(s > 0, s, 1), 0).astype(x.dtype) if shift else e / s


def log_softmax(x: np.ndarray, shift: bool = True) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return x - log_sum_exp(x, shift)[..., None]


def stable_cross_entropy(x: np.ndarray, y: int | np.ndarray, shift: bool = True) -> np.ndarray:
    """log_sum_exp(x) - x[y], batched over leading axes."""
    xy = np.take_along_axis(x, np.asarray(y)[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        return log_sum_exp(x, shift) - xy
