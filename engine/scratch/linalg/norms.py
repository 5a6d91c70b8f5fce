"""Vector and matrix norms, written out, with the scaled (overflow-safe) L2.

The operator 2-norm of A is its largest singular value, so ||Ax|| <= ||A||_2 ||x|| for every
x, with equality at the top right-singular vector; Frobenius is the L2 norm of the
singular values. Both are submultiplicative: ||AB|| <= ||A|| ||B||.
"""

from __future__ import annotations

import numpy as np


def l1_norm(x: np.ndarray) -> float:
    return float(np.sum(np.abs(x)))


def l2_norm_naive(x: np.ndarray) -> float:
    with np.errstate(over="ignore"):
        return float(np.sqrt(np.sum(x * x)))


def l2_norm(x: np.ndarray) -> float:
    """max|x| * sqrt(sum((x / max|x|)^2)): squares never exceed 1, so nothing overflows."""
    m = np.max(np.abs(x)) if x.size else 0
    if m == 0 or not np.isfinite(m):
        return float(m)
    y = x / m
    return float(m * np.sqrt(np.sum(y * y)))


def linf_norm(x: np.ndarray) -> float:
    return float(np.max(np.abs(x)))


def frobenius_norm(a: np.ndarray) -> float:
    return l2_norm(a.reshape(-1))


def op_norm(a: np.ndarray) -> float:
    """Largest singular value."""
    return float(np.linalg.svd(a, compute_uv=False)[0])
