"""Entropy, KL divergence and cross-entropy of discrete distributions, in nats.

p is the true (empirical) distribution, q the model. 0 log 0 = 0. KL(p || q) is +inf when q
puts zero mass where p does not (a support mismatch), and never raises for it. The identity
H(p, q) = H(p) + KL(p || q) is why minimising cross-entropy minimises KL.
"""

from __future__ import annotations

import numpy as np


def _validate(p: np.ndarray, name: str = "p") -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {p.shape}")
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValueError(f"{name} has negative or non-finite entries")
    if not np.isclose(p.sum(), 1.0):
        raise ValueError(f"{name} sums to {p.sum()!r}, not 1")
    return p


def entropy(p: np.ndarray) -> float:
    p = _validate(p)
    safe = np.where(p > 0, p, 1.0)
    return float(-np.sum(np.where(p > 0, p * np.log(safe), 0.0))) + 0.0  # + 0.0 turns -0.0 into 0.0


def cross_entropy(p: np.ndarray, q: np.ndarray) -> float:
    p, q = _validate(p), _validate(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {q.shape}")
    if np.any((p > 0) & (q == 0)):
        return float("inf")
    mask = p > 0
    return float(-np.sum(p[mask] * np.log(q[mask])))


def kl(p: np.ndarray, q: np.ndarray) -> float:
    p, q = _validate(p), _validate(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {q.shape}")
    if np.any((p > 0) & (q == 0)):
        return float("inf")
    mask = p > 0
    return float(np.sum(p[mask] * (np.log(p[mask]) - np.log(q[mask]))))
