"""Predictive horizon and bootstrap intervals for drift AUROCs.

Predictive horizon: the largest lookback l whose AUROC beats the label-shuffle null after
Benjamini-Hochberg correction over all lookbacks tested (one-sided, higher score before a
violation). 0 lookbacks passing gives horizon -1 ("no horizon"), which is a result, not an error.

AUROC intervals: BCa bootstrap (scipy.stats.bootstrap) over events, resampling (score, label)
pairs; across seeds the events of every seed are pooled with their seed kept as a stratum, so the
interval covers seed-to-seed and event-to-event variation without pretending 3 seeds are 3000.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from engine.analyses.dcsbm.metrics import auroc


def permutation_p(observed: np.ndarray, shuffled: np.ndarray) -> np.ndarray:
    """One-sided p per column: (1 + #{shuffle >= observed}) / (1 + n_shuffles). shuffled is (n_shuffles, cols)."""
    return (1 + (shuffled >= observed[None, :]).sum(0)) / (1 + shuffled.shape[0])


def predictive_horizon(p_values: np.ndarray, alpha: float = 0.05) -> tuple[int, np.ndarray]:
    """Largest lookback index whose BH-adjusted p is below alpha (-1 if none), and the adjusted p-values."""
    p_bh = stats.false_discovery_control(np.asarray(p_values, dtype=np.float64), method="bh")
    passing = np.flatnonzero(p_bh < alpha)
    return (int(passing.max()) if len(passing) else -1), p_bh


def auroc_ci(score: np.ndarray, labels: np.ndarray, n_resamples: int = 999, seed: int = 0,
             level: float = 0.95) -> tuple[float, float]:
    """BCa interval of AUROC over events (NaN when a resample would lack a class)."""
    if labels.sum() < 2 or (~labels).sum() < 2:
        return float("nan"), float("nan")

    def stat(s: np.ndarray, y: np.ndarray) -> float:
        y = y.astype(bool)
        return auroc(s[y], s[~y]) if 0 < y.sum() < len(y) else 0.5

    res = stats.bootstrap((score, labels.astype(np.int8)), stat, paired=True, vectorized=False,
                          n_resamples=n_resamples, confidence_level=level, method="BCa",
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def seed_mean_auroc_ci(score: np.ndarray, labels: np.ndarray, seed_id: np.ndarray, n_resamples: int = 999,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """BCa interval of the mean over seeds of the within-seed AUROC, resampling pooled events."""

    def stat(s: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
        y = y.astype(bool)
        vals = [auroc(s[(g == k) & y], s[(g == k) & ~y]) for k in np.unique(g)]
        vals = [v for v in vals if np.isfinite(v)]
        return float(np.mean(vals)) if vals else 0.5

    res = stats.bootstrap((score, labels.astype(np.int8), seed_id), stat, paired=True, vectorized=False,
                          n_resamples=n_resamples, confidence_level=level, method="BCa",
                          rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
