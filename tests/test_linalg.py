"""Linear algebra: norms (the course's test names), einsum predictions, matmul variants, SVD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scratch.linalg import einsum_check, matmul, norms, svd_compress


@pytest.fixture
def mats() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((12, 9)), rng.standard_normal((9, 7))


def test_norms_match_numpy(mats) -> None:  # type: ignore[no-untyped-def]
    a, _ = mats
    v = a[:, 0]
    assert norms.l1_norm(v) == pytest.approx(np.linalg.norm(v, 1))
    assert norms.l2_norm(v) == pytest.approx(np.linalg.norm(v))
    assert norms.linf_norm(v) == pytest.approx(np.linalg.norm(v, np.inf))
    assert norms.frobenius_norm(a) == pytest.approx(np.linalg.norm(a, "fro"))
    assert [norms.l1_norm(np.array([3, -4, 12, 0.0])), norms.l2_norm(np.array([3, -4, 12, 0.0]))] == [19.0, 13.0]


def test_frobenius_equals_l2_of_singular_values(mats) -> None:  # type: ignore[no-untyped-def]
    a, _ = mats
    assert norms.frobenius_norm(a) == pytest.approx(np.sqrt(np.sum(np.linalg.svd(a, compute_uv=False) ** 2)))


def test_op_norm_is_sigma_max(mats) -> None:  # type: ignore[no-untyped-def]
    a, _ = mats
    assert norms.op_norm(a) == pytest.approx(np.linalg.norm(a, 2))


def test_submultiplicative_inequality(mats) -> None:  # type: ignore[no-untyped-def]
    a, b = mats
    assert norms.op_norm(a @ b) <= norms.op_norm(a) * norms.op_norm(b) + 1e-5
    assert norms.frobenius_norm(a @ b) <= norms.frobenius_norm(a) * norms.frobenius_norm(b) + 1e-5


def test_stable_l2_handles_huge_values() -> None:
    x = np.array([1e30, 1e30], np.float32)
    assert norms.l2_norm(x) == pytest.approx(np.sqrt(2) * 1e30, rel=1e-6)
    assert norms.l2_norm_naive(x) == np.inf
    assert norms.l2_norm(np.zeros(3)) == 0.0


def test_einsum_predictions_match_numpy() -> None:
    dims = dict(einsum_check.DIMS, B=2, VERBS=20, CELLS=15)
    rng = np.random.default_rng(0)
    for _, spec, letters in einsum_check.PROBLEMS[:18]:
        sizes = einsum_check.letter_sizes(letters, dims)
        ops = [rng.standard_normal(s) for s in einsum_check.operand_shapes(spec, sizes)]
        assert np.einsum(spec, *ops).shape == einsum_check.predict_shape(spec, sizes), spec
        assert einsum_check.flops_agree(einsum_check.predict_flops(spec, sizes), einsum_check.numpy_flops(spec, ops)), spec
    assert einsum_check.predict_flops("ik,kj->ij", {"i": 4, "k": 5, "j": 6}) == 2 * 4 * 5 * 6


def test_matmul_variants_agree_and_known_answer() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random((37, 70), dtype=np.float32), rng.random((70, 45), dtype=np.float32)
    ref = a @ b
    for fn in (matmul.matmul_naive, lambda x, y: matmul.matmul_blocked(x, y, 16), matmul.matmul_einsum):
        assert np.allclose(fn(a, b), ref, rtol=1e-5, atol=1e-5)
    ka, kb = np.array([[1.0, 2], [3, 4]]), np.array([[5.0, 6], [7, 8]])
    assert matmul.matmul_einsum(ka, kb).tolist() == [[19, 22], [43, 50]]
    assert matmul.matmul_einsum(ka, kb, "ki,kj->ij").tolist() == [[26, 30], [38, 44]]
    with pytest.raises(ValueError):
        matmul.matmul_naive(a, a)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_swapped_axis_property(n: int, m: int, p: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, m)), rng.standard_normal((m, p))
    assert np.allclose(matmul.matmul_einsum(a, b), a @ b)


def test_svd_eckart_young_and_matrix() -> None:
    c, verbs, cells = svd_compress.conjugation_counts(42)
    assert c.shape == (20, 15) and len(verbs) == 20 and len(cells) == 15 and cells[0] == "infinitive/first"
    assert np.all(c >= 0)
    c64 = c.astype(np.float64)
    table = svd_compress.compression_table(c64, [1, 2, 3, 5, 8])
    s = np.asarray(table["singular_values"])
    for r in table["rows"]:
        assert r["frobenius_error"] == pytest.approx(r["eckart_young_fro"], rel=1e-9, abs=1e-9)
        assert r["op_norm_error"] == pytest.approx(r["sigma_next"], rel=1e-9)
    rng = np.random.default_rng(0)
    for k in (1, 3):
        assert svd_compress.random_rank_k_error(c64, k, rng) >= table["rows"][[1, 2, 3, 5, 8].index(k)]["frobenius_error"] - 1e-9
    assert s[0] > s[1] > 0
