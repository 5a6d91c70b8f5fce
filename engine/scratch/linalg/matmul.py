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


KNOWN_A = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
KNOWN_B = np.array([[5.0, 6.0], [7.0, 8.0]], dtype=np.float32)
KNOWN_C = np.array([[19.0, 22.0], [43.0, 50.0]], dtype=np.float32)


def correctness_gates(spec: str, rng: np.random.Generator) -> dict[str, bool | float]:
    """Before any timing: the einsum matmul (with subscripts `spec`) on a known 2x2 answer and a 3x5 @ 5x4
    product, and the naive, blocked and einsum versions against `@` at N=64. A speed for a wrong product
    means nothing, so the ladder is read only when these hold."""
    known_ok = bool(np.array_equal(matmul_einsum(KNOWN_A, KNOWN_B, spec), KNOWN_C))
    a35, b54 = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    try:
        nonsquare_ok = bool(np.allclose(matmul_einsum(a35, b54, spec), a35 @ b54, rtol=1e-5, atol=1e-6))
    except ValueError:
        nonsquare_ok = False
    a = rng.random((64, 64), dtype=np.float32)
    b = rng.random((64, 64), dtype=np.float32)
    ref = a @ b
    agree = {name: bool(np.allclose(fn(a, b), ref, rtol=1e-5, atol=1e-6)) for name, fn in
             (("naive", matmul_naive), ("blocked", matmul_blocked),
              ("einsum", lambda x, y: matmul_einsum(x, y, spec)))}
    return {"known_answer_ok": known_ok, "nonsquare_ok": nonsquare_ok,
            "square_max_diff": float(np.max(np.abs(matmul_einsum(a, b, spec) - ref))),
            **{f"agree_{k}": v for k, v in agree.items()}}
