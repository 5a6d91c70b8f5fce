"""Predictive horizon and bootstrap intervals for drift AUROCs.

Predictive horizon: the largest lookback l whose AUROC beats the label-shuffle null after
Benjamini-Hochberg (or Holm) correction over all lookbacks tested (one-sided, higher score before a
violation). 0 lookbacks passing gives horizon -1 ("no horizon"), which is a result, not an error.

AUROC intervals: BCa bootstrap (engine.scratch.stats.bootstrap.bca) over events, resampling (score, label)
pairs; across seeds the events are resampled within their own seed (a stratum), so each seed keeps
its size and the interval is that of the mean of per-seed AUROCs. Across seeds the horizon is taken
from the seed-mean AUROC per lookback against the seed mean of label shuffles (aggregate_horizon).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from engine.scratch.stats.bootstrap import bca


def permutation_p(observed: np.ndarray, shuffled: np.ndarray) -> np.ndarray:
    """One-sided p per column: (1 + #{shuffle >= observed}) / (1 + n_shuffles). shuffled is (n_shuffles, cols)."""
    return (1 + (shuffled >= observed[None, :]).sum(0)) / (1 + shuffled.shape[0])


def corrected_p(p_values: np.ndarray, method: str = "bh") -> np.ndarray:
    """Benjamini-Hochberg ("bh", false discovery rate) or Holm ("holm", family-wise error) adjusted p-values.

    Holm: sort ascending, p_(j) * (m - j) for j = 0..m-1, running maximum from the left, capped at 1.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if method == "bh":
        return stats.false_discovery_control(p, method="bh")
    if method == "holm":
        order = np.argsort(p, kind="mergesort")
        adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
        out = np.empty_like(adj)
        out[order] = adj
        return out
    raise ValueError(f"correction must be 'bh' or 'holm', got {method!r}")


def predictive_horizon(p_values: np.ndarray, alpha: float = 0.05, method: str = "bh") -> tuple[int, np.ndarray]:
    """Largest lookback index whose corrected p is below alpha (-1 if none), and the corrected p-values."""
    p_adj = corrected_p(p_values, method)
    passing = np.flatnonzero(p_adj < alpha)
    return (int(passing.max()) if len(passing) else -1), p_adj


def auroc_rank(score: np.ndarray, labels: np.ndarray) -> float:
    """AUROC by the rank sum with scipy's C ranking (metrics.auroc's definition, fast enough to bootstrap)."""
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auroc_ci(score: np.ndarray, labels: np.ndarray, n_resamples: int = 999, seed: int = 0,
             level: float = 0.95) -> tuple[float, float]:
    """BCa interval of AUROC over events (NaN with fewer than 2 events of a class)."""
    if labels.sum() < 2 or (~labels).sum() < 2:
        return float("nan"), float("nan")

    def stat(s: np.ndarray, y: np.ndarray) -> float:
        a = auroc_rank(s, y)
        return a if np.isfinite(a) else 0.5

    res = bca((score, labels.astype(bool)), stat, n_resamples, level, np.random.default_rng(seed))
    return res.low, res.high


def seed_mean_auroc_ci(score: np.ndarray, labels: np.ndarray, seed_id: np.ndarray, n_resamples: int = 999,
                       seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """BCa interval of the mean over seeds of the within-seed AUROC; events resampled within their seed.

    score may be (E,) or (E, H): with heads the statistic takes the best head's AUROC in each seed.
    """
    def stat(s: np.ndarray, y: np.ndarray, g: np.ndarray) -> float:
        vals = []
        for k in np.unique(g):
            m = g == k
            cols = s[m][:, None] if s.ndim == 1 else s[m]
            a = max(auroc_rank(cols[:, h], y[m]) for h in range(cols.shape[1]))
            if np.isfinite(a):
                vals.append(a)
        return float(np.mean(vals)) if vals else 0.5

    res = bca((score, labels.astype(bool), seed_id), stat, n_resamples, level, np.random.default_rng(seed),
              strata=seed_id)
    return res.low, res.high


def aggregate_horizon(observed: list[np.ndarray], shuffled: list[np.ndarray], alpha: float = 0.05,
                      method: str = "bh") -> dict[str, object]:
    """Across seeds: the mean per-seed AUROC at each lookback against the same mean under label shuffles.

    observed[s] is seed s's (r,) AUROC per lookback, shuffled[s] its (n_shuffles, r) shuffle AUROCs.
    Shuffles are independent across seeds, so averaging shuffle b of every seed is one draw from the
    null of the seed mean. One-sided p per lookback, corrected over lookbacks, then the horizon.
    """
    n = min(len(x) for x in shuffled)
    mean_obs = np.mean(np.stack(observed), axis=0)
    mean_null = np.mean(np.stack([x[:n] for x in shuffled]), axis=0)
    p = permutation_p(mean_obs, mean_null)
    lb, p_adj = predictive_horizon(p, alpha, method)
    return {"auroc_mean": [float(x) for x in mean_obs], "p": [float(x) for x in p],
            "p_adjusted": [float(x) for x in p_adj], "horizon": lb, "correction": method,
            "null_p95": [float(x) for x in np.percentile(mean_null, 95, axis=0)]}
