"""Calibration: is a 0.9-confident prediction right 90 % of the time?

ECE bins predictions by confidence (10 equal-width bins; empty bins count 0) and averages
|accuracy - confidence| weighted by bin size. Temperature scaling divides logits by one
scalar T fitted on a validation split (minimising its NLL): T > 1 softens an over-confident
model, and argmax (hence accuracy) never changes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.scratch.probability.logits import cross_entropy_batch, softmax


def reliability_bins(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> list[dict[str, Any]]:
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = idx == b
        rows.append({"bin": b, "mid": float((edges[b] + edges[b + 1]) / 2), "count": int(m.sum()),
                     "accuracy": float(correct[m].mean()) if m.any() else 0.0,
                     "confidence": float(conf[m].mean()) if m.any() else 0.0})
    return rows


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    n = len(y)
    return float(sum(r["count"] / n * abs(r["accuracy"] - r["confidence"]) for r in reliability_bins(probs, y, n_bins)))


def fit_temperature(logits: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0, iters: int = 80) -> float:
    """Golden-section search on log T for the validation NLL (unimodal in practice)."""
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2

    def nll(log_t: float) -> float:
        return cross_entropy_batch(logits / math.exp(log_t), y)

    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(d)
    return math.exp((a + b) / 2)


def scaled_probs(logits: np.ndarray, t: float) -> np.ndarray:
    return softmax(logits / t)
