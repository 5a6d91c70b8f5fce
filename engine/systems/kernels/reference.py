"""Float64 oracles for the Triton kernels (NumPy, so they share nothing with the kernels or torch)."""

from __future__ import annotations

import math

import numpy as np


def softmax64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def layernorm64(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * np.asarray(weight, np.float64) + np.asarray(bias, np.float64)


def attention64(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    """softmax(q k^T / sqrt(d)) v over the last two axes, causal mask optional, in float64."""
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        n = s.shape[-1]
        s = np.where(np.tril(np.ones((s.shape[-2], n), dtype=bool)), s, -np.inf)
    return softmax64(s) @ v


def max_abs(a: object, b: object) -> float:
    """Largest |a - b| (inf when either has a non-finite entry where the other does not)."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.isfinite(a64).all() and np.isfinite(b64).all()):
        return float("inf")
    return float(np.abs(a64 - b64).max())


def max_scaled(a: object, b: object) -> float:
    """Largest |a - b| / max(1, |b|): absolute error for small values, relative for large ones
    (allclose with atol = rtol), the fair measure for a low-precision output whose ulp grows with |b|."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.isfinite(a64).all() and np.isfinite(b64).all()):
        return float("inf")
    return float((np.abs(a64 - b64) / np.maximum(1.0, np.abs(b64))).max())


def lse64(q: np.ndarray, k: np.ndarray, causal: bool) -> np.ndarray:
    """Row log-sum-exp of the scaled (optionally causal) scores in float64: what the kernel stores."""
    s = q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    return (m + np.log(np.exp(s - m).sum(-1, keepdims=True)))[..., 0]
