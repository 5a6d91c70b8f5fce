"""Entropy/KL/CE, stable log-softmax, calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from engine.scratch.probability import calibration as C
from engine.scratch.probability import info, logits


def test_entropy_values_and_validation() -> None:
    assert info.entropy(np.array([1.0, 0, 0, 0, 0])) == 0.0
    assert info.entropy(np.full(5, 0.2)) == pytest.approx(math.log(5))
    assert info.entropy(np.array([0.6, 0.1, 0.1, 0.1, 0.1])) == pytest.approx(1.2275294114572126)
    for bad in ([0.5, 0.6], [-0.5, 1.5], [[1.0]], [np.nan, 1.0]):
        with pytest.raises(ValueError):
            info.entropy(np.array(bad))


def test_kl_properties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        p, q = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
        assert info.kl(p, q) >= 0
        assert abs(info.entropy(p) + info.kl(p, q) - info.cross_entropy(p, q)) < 1e-10
    assert np.isposinf(info.kl(np.full(5, 0.2), np.array([0.5, 0.5, 0, 0, 0])))
    assert info.kl(np.array([0.5, 0.5, 0, 0, 0]), np.full(5, 0.2)) == pytest.approx(math.log(2.5))


def test_log_softmax_and_ce() -> None:
    rng = np.random.default_rng(1)
    for z in (rng.standard_normal(600), rng.standard_normal(600) * 50 + 1e3, rng.standard_normal(600) - 1e3):
        assert np.allclose(logits.log_softmax(z), special.log_softmax(z), atol=1e-12 * max(1, np.abs(z).max()))
        assert logits.logsumexp(z + 7.0) == pytest.approx(logits.logsumexp(z) + 7.0)
    assert logits.cross_entropy_from_logits(np.array([1.2, 4.7, 3.1, 0.5, 2.9], np.float32), 2) == pytest.approx(1.9453, abs=1e-4)
    huge = np.array([10.0, 92.0, 30.0, -50.0, 40.0], np.float32)
    assert logits.cross_entropy_from_logits(huge, 3) == pytest.approx(142.0, abs=1e-3)
    assert logits.cross_entropy_via_log_of_softmax(huge, 3) == math.inf
    assert not np.isfinite(logits.logsumexp_naive(np.array([1000.0, 1001.0])))


def test_ece_and_temperature() -> None:
    rng = np.random.default_rng(2)
    n, k = 4000, 5
    true_logits = rng.standard_normal((n, k)) * 2
    y = np.array([rng.choice(k, p=p) for p in special.softmax(true_logits, axis=1)])
    # calibrated by construction; sharpened by 3x it is over-confident, and T should come back near 3
    assert C.ece(special.softmax(true_logits, axis=1), y) < 0.03
    sharp = true_logits * 3
    assert C.ece(special.softmax(sharp, axis=1), y) > 0.1
    t = C.fit_temperature(sharp, y)
    assert t == pytest.approx(3.0, rel=0.15)
    rows = C.reliability_bins(special.softmax(sharp, axis=1), y)
    assert len(rows) == 10 and sum(r["count"] for r in rows) == n
