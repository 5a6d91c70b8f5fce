"""Compiled loops for the CPU roofline and the loop-order break: STREAM triad, two matmul orders.

triad        a[i] = b[i] + s * c[i]: 2 FLOPs per 24 bytes (read b, c; write a), one pass.
matmul_ikj   C += A[i,k] * B[k,:]: the inner loop walks a row of B and of C (unit stride).
matmul_ijk   C[i,j] += A[i,k] * B[k,j] over k: the inner loop walks down a column of B,
             one cache line per element once B outgrows the cache (the coalescing lesson on a CPU).
Compiled with -O3 (so the contiguous order vectorises) but -fno-loop-interchange, so the compiler
cannot swap the strided loop nest back into the good order behind the lab's back.
"""

from __future__ import annotations

import ctypes

import numpy as np

from engine.systems.hardware.cbuild import build

_SOURCE = r"""
void triad(long n, float *a, const float *b, const float *c, float s) {
    for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}
void matmul_ikj(long n, const float *A, const float *B, float *C) {
    for (long i = 0; i < n * n; i++) C[i] = 0.0f;
    for (long i = 0; i < n; i++)
        for (long k = 0; k < n; k++) {
            float a = A[i * n + k];
            for (long j = 0; j < n; j++) C[i * n + j] += a * B[k * n + j];
        }
}
void matmul_ijk(long n, const float *A, const float *B, float *C) {
    for (long i = 0; i < n; i++)
        for (long j = 0; j < n; j++) {
            float acc = 0.0f;
            for (long k = 0; k < n; k++) acc += A[i * n + k] * B[k * n + j];
            C[i * n + j] = acc;
        }
}
"""

_LIB: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    """The compiled loops; raises RuntimeError when no C compiler works here."""
    global _LIB
    if _LIB is None:
        dll = build(_SOURCE, "cloops", "hardware", flags=("-O3", "-fno-loop-interchange", "-fno-tree-loop-distribute-patterns"))
        if dll is None:
            raise RuntimeError("no working C compiler (cc/gcc/clang): the compiled loops cannot be built")
        ptr, i64 = ctypes.c_void_p, ctypes.c_long
        dll.triad.argtypes = [i64, ptr, ptr, ptr, ctypes.c_float]
        dll.matmul_ikj.argtypes = [i64, ptr, ptr, ptr]
        dll.matmul_ijk.argtypes = [i64, ptr, ptr, ptr]
        _LIB = dll
    return _LIB


def _p(a: np.ndarray) -> int:
    assert a.dtype == np.float32 and a.flags.c_contiguous
    return int(a.ctypes.data)


def triad(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> None:
    lib().triad(a.size, _p(a), _p(b), _p(c), s)


def matmul(A: np.ndarray, B: np.ndarray, order: str) -> np.ndarray:
    """C = A @ B for square float32 matrices with the named loop order ('ikj' or 'ijk')."""
    n = A.shape[0]
    C = np.empty((n, n), dtype=np.float32)
    fn = {"ikj": lib().matmul_ikj, "ijk": lib().matmul_ijk}[order]
    fn(n, _p(A), _p(B), _p(C))
    return C


def triad_gbs(n: int, min_time_s: float) -> float:
    """STREAM-triad bandwidth in GB/s on n float32 elements (12 bytes per element), best of 3 batches."""
    from engine.systems.hardware.timing import time_call

    a, b, c = np.empty(n, np.float32), np.ones(n, np.float32), np.ones(n, np.float32)
    t = time_call(lambda: triad(a, b, c, 3.0), min_time_s=min_time_s, batches=3).best_s
    return 12.0 * n / t / 1e9


def triad_max_err(seed: int, n: int = 4096) -> float:
    """The compiled triad's values against float64 NumPy on seeded inputs."""
    rng = np.random.default_rng(seed)
    b, c = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    a = np.empty_like(b)
    triad(a, b, c, 3.0)
    return float(np.abs(a - (b.astype(np.float64) + 3.0 * c.astype(np.float64))).max())


def loop_order_race(n: int, order: str, repeats: int, seed: int) -> tuple[float, float, float]:
    """(seconds in `order`, seconds in ikj, max |C - A @ B in float64|) on seeded N x N inputs, both
    orders timed interleaved in thread CPU time so a busy machine slows both alike."""
    from engine.systems.hardware.timing import interleaved_best_cpu

    rng = np.random.default_rng(seed)
    A, B = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    t_lab, t_ref = interleaved_best_cpu([lambda: matmul(A, B, order), lambda: matmul(A, B, "ikj")], repeats)
    ref = A.astype(np.float64) @ B.astype(np.float64)
    return t_lab, t_ref, float(np.abs(matmul(A, B, order) - ref).max())
