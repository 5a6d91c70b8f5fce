"""Log-softmax and cross-entropy from logits, stable and naive (float64 unless given fp32).

Stable: logsumexp(z) = m + log sum exp(z - m) with m = max z; log_softmax = z - logsumexp;
CE(z, y) = -log_softmax(z)[y]. The naive path computes softmax first and takes its log: in
fp32 a probability below about 1e-45 is exactly 0 and its log is -inf, the phase-05 break.
"""

from __future__ import annotations

import numpy as np

from engine.scratch.numerics.softmax import log_sum_exp, naive_log_sum_exp, naive_softmax, stable_softmax


def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    return log_sum_exp(np.moveaxis(np.asarray(z), axis, -1))


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z)
    return z - log_sum_exp(z)[..., None]


def softmax(z: np.ndarray) -> np.ndarray:
    return stable_softmax(np.asarray(z))


def cross_entropy_from_logits(z: np.ndarray, y: int) -> float:
    return float(-log_softmax(z)[y])


def cross_entropy_batch(z: np.ndarray, y: np.ndarray) -> float:
    """Mean CE over a (B, V) batch with integer targets (B,)."""
    lp = log_softmax(z)
    return float(-np.mean(lp[np.arange(len(y)), y]))


def logsumexp_naive(z: np.ndarray) -> np.ndarray:
    return naive_log_sum_exp(np.asarray(z))


def log_softmax_naive(z: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(naive_softmax(np.asarray(z)))


def cross_entropy_via_log_of_softmax(z: np.ndarray, y: int) -> float:
    """-log(softmax(z)[y]): correct on paper, inf once softmax underflows."""
    p = stable_softmax(np.asarray(z))
    with np.errstate(divide="ignore"):
        return float(-np.log(p[y]))
