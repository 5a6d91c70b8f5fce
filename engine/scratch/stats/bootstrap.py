"""Bias-corrected and accelerated (BCa) bootstrap intervals, written out once for the whole engine.

Given data x_1..x_n (one or more arrays resampled together, row by row), a statistic theta and its
value on the data theta_hat:

1. B bootstrap replicates theta*_b, each on n rows drawn with replacement (within each stratum when
   `strata` is given: every resample keeps each stratum's size, e.g. the events of each seed).
2. Bias correction z0 = Phi^-1(share of replicates below theta_hat), ties counting half.
3. Acceleration from the jackknife: with theta_(i) the statistic without row i and theta_(.) their
   mean, a = sum (theta_(.) - theta_(i))^3 / (6 [sum (theta_(.) - theta_(i))^2]^(3/2)).
4. The interval is the empirical percentiles of the replicates at
   alpha_lo = Phi(z0 + (z0 + z_{a/2}) / (1 - a (z0 + z_{a/2}))) and the same with z_{1-a/2}.

With z0 = a = 0 this is the plain percentile interval. On unstratified data and the same random
generator it reproduces scipy.stats.bootstrap(method="BCa") to float precision (tests/test_stats_bootstrap.py),
which draws its resample indices the same way (rng.integers(0, n, (B, n))).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri


@dataclass
class BCaResult:
    low: float
    high: float
    estimate: float
    z0: float            # bias correction
    accel: float         # acceleration
    n_resamples: int
    note: str = ""       # why the interval is NaN, when it is


def _indices(n: int, n_resamples: int, rng: np.random.Generator, strata: np.ndarray | None) -> np.ndarray:
    if strata is None:
        return rng.integers(0, n, (n_resamples, n))
    out = np.empty((n_resamples, n), dtype=np.int64)
    col = 0
    for g in np.unique(strata):
        rows = np.flatnonzero(strata == g)
        out[:, col:col + len(rows)] = rows[rng.integers(0, len(rows), (n_resamples, len(rows)))]
        col += len(rows)
    return out


def jackknife_acceleration(jack: np.ndarray) -> float:
    """a from the leave-one-out values (0 when they are all equal)."""
    d = jack.mean() - jack
    den = 6.0 * (d @ d) ** 1.5
    return float((d**3).sum() / den) if den > 0 else 0.0


def bca(data: Sequence[np.ndarray], statistic: Callable[..., float], n_resamples: int = 999,
        level: float = 0.95, rng: np.random.Generator | int | None = None,
        strata: np.ndarray | None = None, plain: bool = False) -> BCaResult:
    """BCa interval of statistic(*data) resampling rows of all arrays in `data` together.

    plain=True drops both corrections (z0 = a = 0): the percentile interval on the same replicates."""
    arrays = [np.asarray(a) for a in data]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"bca: all arrays must have the same length, got {[len(a) for a in arrays]}")
    if not 0 < level < 1:
        raise ValueError(f"bca: level must be in (0, 1), got {level}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    theta = float(statistic(*arrays))
    if n < 2 or not np.isfinite(theta):
        return BCaResult(float("nan"), float("nan"), theta, float("nan"), float("nan"), n_resamples,
                         f"statistic is {theta} on {n} rows")
    strata = None if strata is None else np.asarray(strata)
    idx = _indices(n, n_resamples, rng, strata)
    boot = np.array([statistic(*(a[i] for a in arrays)) for i in idx], dtype=np.float64)
    if not np.isfinite(boot).all():
        return BCaResult(float("nan"), float("nan"), theta, float("nan"), float("nan"), n_resamples,
                         f"{int((~np.isfinite(boot)).sum())} of {n_resamples} replicates are not finite")
    keep = np.ones(n, dtype=bool)
    jack = np.zeros(n)
    for i in range(0 if plain else n):
        keep[i] = False
        jack[i] = statistic(*(a[keep] for a in arrays))
        keep[i] = True
    share = ((boot < theta).sum() + (boot <= theta).sum()) / (2.0 * n_resamples)
    z0 = 0.0 if plain else float(ndtri(share))
    accel = 0.0 if plain else jackknife_acceleration(jack)
    if not np.isfinite(z0):
        return BCaResult(float("nan"), float("nan"), theta, z0, accel, n_resamples,
                         "every replicate lies on one side of the estimate (bias correction infinite)")
    alpha = (1 - level) / 2
    ends = []
    for z_a in (ndtri(alpha), ndtri(1 - alpha)):
        ends.append(float(ndtr(z0 + (z0 + z_a) / (1 - accel * (z0 + z_a)))))
    lo, hi = np.percentile(boot, [100 * ends[0], 100 * ends[1]])
    return BCaResult(float(lo), float(hi), theta, z0, accel, n_resamples)


def bootstrap_ci(x: Sequence[float] | np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean,
                 method: str = "bca", n_resamples: int = 9999, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """(low, high) interval of statistic(x) for one sample: method "bca" or "percentile" (z0 = a = 0)."""
    if method not in ("bca", "percentile"):
        raise ValueError(f"bootstrap_ci: method must be 'bca' or 'percentile', got {method!r}")
    res = bca((np.asarray(x, dtype=np.float64),), statistic, n_resamples, level, np.random.default_rng(seed),
              plain=method == "percentile")
    return res.low, res.high


def summarize(values: Sequence[float] | np.ndarray, n_resamples: int = 9999, seed: int = 0,
              level: float = 0.95) -> dict[str, float]:
    """n, mean, sample std (ddof 1) and the BCa interval of the mean: a per-seed summary."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = bootstrap_ci(v, np.mean, "bca", n_resamples, seed, level)
    return {"n": int(v.size), "mean": float(v.mean()) if v.size else float("nan"),
            "std": float(v.std(ddof=1)) if v.size > 1 else float("nan"), "ci_low": lo, "ci_high": hi}
