"""engine.scratch.stats.bootstrap.bca against scipy.stats.bootstrap(method='BCa') and the jackknife closed form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from engine.scratch.stats.bootstrap import bca, jackknife_acceleration


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_bca_matches_scipy_on_the_same_resamples(level: float) -> None:
    x = np.random.default_rng(1).exponential(size=60)          # skewed: z0 and a both matter
    ours = bca((x,), np.mean, n_resamples=2000, level=level, rng=np.random.default_rng(7))
    ref = stats.bootstrap((x,), np.mean, n_resamples=2000, confidence_level=level, method="BCa",
                          vectorized=False, rng=np.random.default_rng(7)).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=1e-12) and ours.high == pytest.approx(ref.high, abs=1e-12)
    assert abs(ours.accel) > 1e-3 and ours.low < x.mean() < ours.high


def test_bca_paired_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=40)
    b = a + rng.normal(scale=0.5, size=40)

    def corr(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.corrcoef(u, v)[0, 1])

    ours = bca((a, b), corr, n_resamples=1000, rng=np.random.default_rng(11))
    ref = stats.bootstrap((a, b), corr, paired=True, n_resamples=1000, method="BCa", vectorized=False,
                          rng=np.random.default_rng(11)).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=1e-12) and ours.high == pytest.approx(ref.high, abs=1e-12)


def test_acceleration_of_the_mean_is_the_skewness_formula() -> None:
    # for the mean, theta_(i) = (n xbar - x_i) / (n - 1), so d_i is proportional to x_i - xbar and
    # a = sum (x - xbar)^3 / (6 (sum (x - xbar)^2)^1.5), a closed form independent of the jackknife loop
    x = np.random.default_rng(0).gamma(2.0, size=50)
    jack = (x.sum() - x) / (len(x) - 1)
    c = x - x.mean()
    assert jackknife_acceleration(jack) == pytest.approx((c**3).sum() / (6 * (c @ c) ** 1.5), rel=1e-12)


def test_stratified_resamples_keep_each_stratum_and_degenerate_cases() -> None:
    x = np.r_[np.zeros(30), np.ones(10)]
    g = np.r_[np.zeros(30, int), np.ones(10, int)]
    res = bca((x,), np.mean, n_resamples=200, rng=0, strata=g)
    assert res.low == res.high == pytest.approx(0.25)         # stratum sizes fixed: the mean never moves
    nan = bca((np.array([1.0]),), np.mean)
    assert np.isnan(nan.low) and "1 rows" in nan.note
    with pytest.raises(ValueError, match="same length"):
        bca((np.ones(3), np.ones(4)), lambda a, b: 0.0)
