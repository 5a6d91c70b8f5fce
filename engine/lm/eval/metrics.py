"""Evaluation metrics with exact, testable definitions.

- Wilson 95 % interval for c successes in n trials (z = 1.96), clamped to [0, 1]; (0, 0) for n = 0.
  48 of 60 gives [0.6822, 0.8818].
- ECE: M equal-width confidence bins, bin m holding confidences in (m/M, (m+1)/M] except the
  first, which also takes 0, so the last bin includes 1.0; ECE = sum |B_m|/N * |acc_m - conf_m|.
- Brier, binary: mean (p - y)^2. Multi-class: mean over items of sum_c (p_ic - 1[y_i = c])^2 / C
  (the course divides by the number of classes, not by 2).
- pass@k: the unbiased estimator 1 - C(n - c, k) / C(n, k), which is 1 when n - c < k.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def wilson_interval(c: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = c / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def reliability_bins(conf: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> list[dict[str, Any]]:
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        rows.append({"bin": b, "lo": b / n_bins, "hi": (b + 1) / n_bins, "count": int(m.sum()),
                     "accuracy": float(correct[m].mean()) if m.any() else 0.0,
                     "confidence": float(conf[m].mean()) if m.any() else 0.0})
    return rows


def ece(conf: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> float:
    n = len(conf)
    if n == 0:
        return 0.0
    return float(sum(r["count"] / n * abs(r["accuracy"] - r["confidence"]) for r in reliability_bins(conf, correct, n_bins)))


def brier(conf: np.ndarray, correct: np.ndarray) -> float:
    p, y = np.asarray(conf, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    return float(np.mean((p - y) ** 2)) if p.size else 0.0


def brier_multiclass(probs: np.ndarray, labels: np.ndarray) -> float:
    probs = np.asarray(probs, dtype=np.float64)
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(labels)), np.asarray(labels)] = 1.0
    return float(np.mean(((probs - onehot) ** 2).sum(axis=1) / probs.shape[1]))


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)
