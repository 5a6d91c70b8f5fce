"""Summation error in fp32, from the naive loop to compensated sums.

All loops are hand-rolled over np.float32 scalars with an explicitly fp32 accumulator, so the
result does not depend on NumPy's promotion rules (under NEP 50, NumPy >= 2, `0.0 + f32`
stays fp32; NumPy 1.x promoted it to fp64). Bounds: naive O(N eps), pairwise O(log N eps),
Kahan/Neumaier O(eps) independent of N.
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


def naive_sum(x: np.ndarray) -> float:
    s = F32(0.0)
    for v in x.astype(np.float32, copy=False):
        s = s + v
    return float(s)


def pairwise_sum(x: np.ndarray, block: int = 8) -> float:
    """Split in halves until `block` elements remain, loop those, add partial sums up the tree."""
    x = x.astype(np.float32, copy=False)

    def rec(lo: int, hi: int) -> np.float32:
        if hi - lo <= block:
            s = F32(0.0)
            for v in x[lo:hi]:
                s = s + v
            return s
        mid = (lo + hi) // 2
        return rec(lo, mid) + rec(mid, hi)

    return float(rec(0, len(x)))


def kahan_sum(x: np.ndarray) -> float:
    s = F32(0.0)
    c = F32(0.0)  # the low-order bits lost so far
    for v in x.astype(np.float32, copy=False):
        y = v - c
        t = s + y
        c = (t - s) - y
        s = t
    return float(s)


def neumaier_sum(x: np.ndarray) -> float:
    """Kahan that also survives a term larger than the running sum."""
    s = F32(0.0)
    c = F32(0.0)
    for v in x.astype(np.float32, copy=False):
        t = s + v
        c = c + (((s - t) + v) if abs(s) >= abs(v) else ((v - t) + s))
        s = t
    return float(s + c)


def fp64_accumulator_naive(x: np.ndarray) -> float:
    """fp32 data, fp64 accumulator: the cheap fix used in practice."""
    s = 0.0
    for v in x.astype(np.float32, copy=False).tolist():
        s += v
    return s


def exact_sum(x: np.ndarray) -> float:
    """Correctly rounded sum of the fp32 values (math.fsum), the reference."""
    return math.fsum(x.astype(np.float32, copy=False).astype(np.float64).tolist())


METHODS = {"naive": naive_sum, "pairwise": pairwise_sum, "kahan": kahan_sum, "neumaier": neumaier_sum,
           "fp64_acc": fp64_accumulator_naive}
