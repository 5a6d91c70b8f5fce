"""Four ways to multiply matrices, from the interpreter's worst to BLAS's best.

`matmul_naive` is a pure-Python triple loop over lists (it must not vectorise: that is the
point). `matmul_blocked` walks 64x64 tiles in Python and multiplies each tile pair with
NumPy, i.e. cache blocking with a compiled micro-kernel. `matmul_einsum` and `np.matmul`
hand the whole product to compiled code.
"""

from __future__ import annotations

import numpy as np


def matmul_naive(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C[i, j] = sum_k A[i, k] * B[k, j], one Python multiply-add at a time (i-k-j order)."""
    n, m = a.shape
    m2, p = b.shape
    if m != m2:
        raise ValueError(f"inner dimensions differ: {a.shape} @ {b.shape}")
    al, bl = a.tolist(), b.tolist()
    c = [[0.0] * p for _ in range(n)]
    for i in range(n):
        ci, ai = c[i], al[i]
        for k in range(m):
            aik, bk = ai[k], bl[k]
            for j in range(p):
                ci[j] += aik * bk[j]
    return np.asarray(c, dtype=a.dtype)


def matmul_blocked(a: np.ndarray, b: np.ndarray, block_size: int = 64) -> np.ndarray:
    """Tile loops in Python (i, j, k over blocks); each tile product runs in NumPy."""
    n, m = a.shape
    m2, p = b.shape
    if m != m2:
        raise ValueError(f"inner dimensions differ: {a.shape} @ {b.shape}")
    c = np.zeros((n, p), dtype=np.result_type(a, b))
    bs = block_size
    for i in range(0, n, bs):
        for j in range(0, p, bs):
            acc = c[i:i + bs, j:j + bs]
            for k in range(0, m, bs):
                acc += a[i:i + bs, k:k + bs] @ b[k:k + bs, j:j + bs]
    return c


def matmul_einsum(a: np.ndarray, b: np.ndarray, spec: str = "ik,kj->ij") -> np.ndarray:
    """The product as an einsum; `spec` is a parameter so the phase-03 break can swap an axis."""
    return np.einsum(spec, a, b)


def matmul_flops(n: int, m: int | None = None, p: int | None = None) -> float:
    """2*n*m*p: one multiply and one add per inner-product term."""
    m = n if m is None else m
    p = n if p is None else p
    return 2.0 * n * m * p
