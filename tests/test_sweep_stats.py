"""engine.scratch.stats.bootstrap (used by `workbench sweep` aggregates) against scipy.stats.bootstrap and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.scratch.stats.bootstrap import bootstrap_ci, summarize


@pytest.mark.parametrize("method", ["bca", "percentile"])
@pytest.mark.parametrize("n", [3, 7, 40])
def test_matches_scipy(method: str, n: int) -> None:
    x = np.random.default_rng(n).exponential(size=n)
    ours = bootstrap_ci(x, np.mean, method=method, n_resamples=4999, seed=11)
    ref = stats.bootstrap((x,), np.mean, method="BCa" if method == "bca" else "percentile", n_resamples=4999,
                          rng=np.random.default_rng(11)).confidence_interval
    assert ours == pytest.approx((ref.low, ref.high), rel=1e-12)


def test_median_statistic_matches_scipy() -> None:
    x = np.random.default_rng(5).normal(size=25)
    ours = bootstrap_ci(x, np.median, n_resamples=2999, seed=2)
    ref = stats.bootstrap((x,), np.median, method="BCa", n_resamples=2999, rng=np.random.default_rng(2))
    assert ours == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high), rel=1e-12)


def test_large_normal_sample_is_near_the_z_interval() -> None:
    x = np.random.default_rng(0).normal(3.0, 2.0, size=2000)
    half = 1.959964 * x.std(ddof=1) / math.sqrt(x.size)
    for method in ("bca", "percentile"):
        lo, hi = bootstrap_ci(x, method=method, n_resamples=4000)
        assert lo == pytest.approx(x.mean() - half, abs=0.1 * half)
        assert hi == pytest.approx(x.mean() + half, abs=0.1 * half)


def test_skew_moves_bca_right_of_percentile() -> None:
    x = np.random.default_rng(3).lognormal(sigma=1.2, size=30)
    (blo, bhi), (plo, phi) = bootstrap_ci(x), bootstrap_ci(x, method="percentile")
    assert bhi > phi and blo > plo  # right skew: BCa shifts the interval up


def test_degenerate_and_bad_input() -> None:
    assert all(math.isnan(v) for v in bootstrap_ci([1.0]))
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    s = summarize([0.5, 0.6, 0.7])
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.6) and s["std"] == pytest.approx(0.1)
    assert s["ci_low"] <= s["mean"] <= s["ci_high"]
    with pytest.raises(ValueError, match="method"):
        bootstrap_ci([1.0, 2.0], method="bc")
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0, 2.0], level=1.5)
