"""Float formats by bits, stable softmax family, summation, int8 quantization."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from engine.scratch.numerics import floats, quant, softmax, summation

KEYS = {"raw_bits", "sign", "biased_exponent", "unbiased_exponent", "mantissa_bits", "is_normal", "is_denormal",
        "is_zero", "is_inf", "is_nan", "reconstructed_value"}


def test_decode_fp32_worked_values() -> None:
    d = floats.decode_fp32(1 / 600)
    assert set(d) == KEYS
    assert d["raw_bits"] == "0x3ada740e" and d["biased_exponent"] == 117 and d["mantissa_bits"] == 5927950
    assert floats.decode_bits(0x3F800000, floats.FP32)["reconstructed_value"] == 1.0
    assert floats.decode_bits(0x40490FDB, floats.FP32)["reconstructed_value"] == pytest.approx(math.pi, rel=1e-7)
    assert floats.decode_fp32(1e-40)["is_denormal"]
    assert floats.decode_fp32(float("inf"))["is_inf"] and floats.decode_fp32(float("nan"))["is_nan"]


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False))
def test_encode_inverts_decode(x: float) -> None:
    d = floats.decode_fp32(x)
    assert floats.encode_fp32(d["sign"], d["biased_exponent"], d["mantissa_bits"]) == x
    assert d["reconstructed_value"] == x


def test_format_constants() -> None:
    assert floats.FP16.max_normal == 65504.0
    assert floats.BF16.bias == 127 and floats.FP16.bias == 15
    assert floats.FP32.epsilon == 2.0**-23


def test_bf16_round_to_nearest_even() -> None:
    assert floats.to_bf16(1.0) == 0x3F80
    # 1 + 2^-8 is exactly halfway between two bf16 values: ties go to the even mantissa (1.0)
    assert floats.round_trip_bf16(1 + 2**-8) == 1.0
    assert floats.round_trip_bf16(1 + 3 * 2**-8) == 1 + 2**-6
    assert floats.round_trip_bf16(1 + 2**-8, rounding="truncate") == 1.0
    assert math.isnan(floats.round_trip_bf16(float("nan")))
    assert floats.round_trip_fp16(1e-20) == 0.0 and floats.round_trip_bf16(1e-20) > 0


def test_naive_softmax_nans_where_stable_does_not() -> None:
    for case in ([1.0, 92.0, 3.0, 0.0, 2.0], [-200.0, -300.0, -250.0]):
        x = np.array(case, np.float32)
        assert np.isnan(softmax.naive_softmax(x)).any()
        p = softmax.stable_softmax(x)
        assert not np.isnan(p).any() and p.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(softmax.stable_softmax(np.array([1.0, 92.0, 3.0], np.float32), shift=False)).any()


def test_masked_rows() -> None:
    x = np.array([[-np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf]])
    p = softmax.stable_softmax(x)
    assert p[0, 0] == 0 and p[0].sum() == pytest.approx(1.0)
    assert np.all(p[1] == 0) and softmax.log_sum_exp(x)[1] == -np.inf


def test_matches_scipy_batched() -> None:
    z = np.random.default_rng(0).standard_normal((16, 50)) * 30
    assert np.allclose(softmax.stable_softmax(z), special.softmax(z, axis=-1), rtol=0, atol=1e-15)
    assert np.allclose(softmax.log_sum_exp(z), special.logsumexp(z, axis=-1), rtol=1e-15)
    assert np.allclose(softmax.log_softmax(z), special.log_softmax(z, axis=-1), atol=1e-12)
    y = np.arange(16) % 50
    assert np.allclose(softmax.stable_cross_entropy(z, y), -special.log_softmax(z, axis=-1)[np.arange(16), y], atol=1e-12)


def test_worked_cross_entropy() -> None:
    assert softmax.stable_cross_entropy(np.array([1.2, 92.0, 3.1, 0.5, 2.9]), 2) == pytest.approx(88.9)


def test_summation_methods() -> None:
    assert summation.naive_sum(np.ones(10, np.float32)) == 10.0
    cliff = np.concatenate([[2.0**24], np.ones(100)]).astype(np.float32)
    assert summation.naive_sum(cliff) == 2.0**24
    for m in ("kahan", "neumaier", "fp64_acc"):
        assert summation.METHODS[m](cliff) == 2.0**24 + 100, m
    # pairwise only loses the ones that share the big number's leaf block (8 elements)
    assert 2.0**24 + 100 - summation.pairwise_sum(cliff) <= 8
    x = (1 / 600 + np.random.default_rng(1).normal(0, 1e-5, 20000)).astype(np.float32)
    ref = summation.exact_sum(x)
    assert abs(summation.kahan_sum(x) - ref) < abs(summation.naive_sum(x) - ref)
    # Neumaier survives a large term after small ones, where Kahan alone loses it
    y = np.array([1.0, 1e8, 1.0, -1e8], np.float32)
    assert summation.neumaier_sum(y) == 2.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=2, max_size=200), st.sampled_from(["symmetric", "asymmetric"]))
def test_quant_error_at_most_half_step(vals: list[float], scheme: str) -> None:
    x = np.array(vals, np.float32)
    q, xq, m = quant.round_trip(x, scheme)
    assert q.dtype == np.int8
    assert np.max(np.abs(x - xq)) <= m["scale"] / 2 * (1 + 1e-5) + 1e-6
    if scheme == "asymmetric" or np.any(x == 0):
        assert np.all(xq[x == 0] == 0)  # zero stays exact
