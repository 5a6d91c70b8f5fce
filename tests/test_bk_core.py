"""BK-Core forward: the O(N) scan against dense inverses, sequential loops and known limits."""

from __future__ import annotations

import pytest
import torch

from engine.research.bk import core
from engine.research.bk.function import bk_features, bk_resolvent
from engine.research.bk.reference import naive_minors_diag, sequential_diag
from engine.research.bk.scan import linear_recurrence, prefix_product


def _diag(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return -2.0 + 6.0 * torch.rand(batch, n, generator=g, dtype=torch.float64) - 3.0


def _dense(diag: torch.Tensor, sup: torch.Tensor, sub: torch.Tensor, z: complex) -> torch.Tensor:
    return core.dense_diag_inverse(diag, sup, sub, z)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 33, 128])
def test_matches_dense_inverse(n: int) -> None:
    diag = _diag(3, n)
    got = bk_resolvent(diag)
    want = _dense(diag, torch.tensor(1.0), torch.tensor(1.0), 1j)
    assert (got - want).abs().max() < 1e-13


def test_general_couplings_and_shift() -> None:
    """Only beta = b*c enters G_ii; unequal, position-dependent b and c and a real part in z."""
    g = torch.Generator().manual_seed(1)
    n = 40
    diag = _diag(2, n, 1)
    b = 0.5 + torch.rand(n - 1, generator=g, dtype=torch.float64)
    c = 0.5 + torch.rand(n - 1, generator=g, dtype=torch.float64)
    z = 0.7 + 0.4j
    got = bk_resolvent(diag, b * c, z)
    assert (got - _dense(diag, b, c, z)).abs().max() < 1e-12


def test_long_sequence_stays_finite_and_matches_loop() -> None:
    diag = _diag(2, 8192, 2)
    got = bk_resolvent(diag)
    assert torch.isfinite(got).all()
    assert (got - sequential_diag(diag)).abs().max() < 1e-12
    # |G_ii| <= 1 / Im z for a real symmetric H
    assert got.abs().max() <= 1.0 + 1e-12


def test_raw_minors_overflow_where_scan_does_not() -> None:
    diag = _diag(1, 2000, 3)
    assert not torch.isfinite(naive_minors_diag(diag)).all()
    assert torch.isfinite(bk_resolvent(diag)).all()


def test_log_abs_det_matches_slogdet() -> None:
    diag = _diag(2, 50, 4)
    alpha = core.shifted_diagonal(diag, 1j, torch.complex128)
    beta = torch.ones(49, dtype=torch.complex128)
    t = torch.diag_embed(alpha) + torch.diag_embed(torch.ones(2, 49, dtype=torch.complex128), 1) \
        + torch.diag_embed(torch.ones(2, 49, dtype=torch.complex128), -1)
    assert torch.allclose(core.log_abs_det(alpha, beta), torch.linalg.slogdet(t).logabsdet, atol=1e-10)


def test_complex64_error_is_small() -> None:
    diag = _diag(2, 4096, 5)
    ref = bk_resolvent(diag)
    lo = bk_resolvent(diag.float(), precision="complex64")
    assert lo.dtype == torch.complex64
    assert (lo.to(torch.complex128) - ref).abs().max() < 1e-4


def test_causal_feature_is_truncated_resolvent() -> None:
    diag = _diag(1, 12, 6)
    got = bk_resolvent(diag, causal=True)
    for i in range(12):
        want = _dense(diag[:, : i + 1], torch.tensor(1.0), torch.tensor(1.0), 1j)[:, i]
        assert (got[:, i] - want).abs().max() < 1e-13


def test_features_shape_and_dtype() -> None:
    x = _diag(2, 10).float().reshape(2, 1, 10).expand(2, 3, 10)
    f = bk_features(x)
    assert f.shape == (2, 3, 10, 2) and f.dtype == torch.float32
    with pytest.raises(ValueError):
        bk_features(x, grad_mode="magic")


def test_prefix_product_and_linear_recurrence_match_loops() -> None:
    g = torch.Generator().manual_seed(7)
    m = torch.randn(3, 13, 2, 2, generator=g, dtype=torch.float64)
    want, acc = [], torch.eye(2, dtype=torch.float64).expand(3, 2, 2)
    for k in range(13):
        acc = m[:, k] @ acc
        want.append(acc)
    assert torch.allclose(prefix_product(m), torch.stack(want, 1))
    a, b = torch.randn(2, 9, generator=g), torch.randn(2, 9, generator=g)
    x, loop = torch.zeros(2), []
    for k in range(9):
        x = a[:, k] * x + b[:, k]
        loop.append(x)
    assert torch.allclose(linear_recurrence(a, b), torch.stack(loop, 1), atol=1e-6)
    x, loop = torch.zeros(2), []
    for k in reversed(range(9)):
        x = a[:, k] * x + b[:, k]
        loop.append(x)
    assert torch.allclose(linear_recurrence(a, b, reverse=True), torch.stack(loop[::-1], 1), atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 64, 100, 255, 256, 1000])
@pytest.mark.parametrize(("beta", "z"), [(1.0, 1j), (0.7, 0.3 + 0.5j), (-0.4, -0.2 + 1.5j)])
def test_cyclic_reduction_matches_dense_inverse(n: int, beta: float, z: complex) -> None:
    """The cyclic-reduction baseline (batched, NumPy) against the dense inverse, powers of two and not."""
    from engine.research.bk.baselines import cyclic_reduction_diag

    gen = torch.Generator().manual_seed(n)
    diag = -2.0 + 3.0 * torch.rand(3, n, generator=gen, dtype=torch.float64) - 1.5
    want = core.dense_diag_inverse(diag, 1.0, beta, z)
    got = torch.from_numpy(cyclic_reduction_diag(diag.numpy(), beta, z))
    assert got.dtype == torch.complex128 and got.shape == (3, n)
    assert float((got - want).abs().max()) < 1e-12
