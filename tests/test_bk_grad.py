"""BK-Core backward: the exact O(N) VJP against the dense Jacobian, gradcheck, and the hybrid."""

from __future__ import annotations

import pytest
import torch

from engine.research.bk import core, native
from engine.research.bk.function import bk_features
from engine.research.bk.model import BKConfig, BKLayer


def _diag(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return -2.0 + 6.0 * torch.rand(batch, n, generator=g, dtype=torch.float64) - 3.0


def _dense_grad(diag: torch.Tensor, u: torch.Tensor, z: complex = 1j) -> torch.Tensor:
    n = diag.shape[-1]
    ones = torch.ones(*diag.shape[:-1], n - 1, dtype=torch.complex128)
    t = torch.diag_embed(diag.to(torch.complex128) - z) + torch.diag_embed(ones, 1) + torch.diag_embed(ones, -1)
    inv = core.dense_inverse(t)
    w = torch.complex(u[..., 0], -u[..., 1])
    return -(w.unsqueeze(-1) * inv * inv.transpose(-1, -2)).sum(-2).real


def _grad(diag: torch.Tensor, u: torch.Tensor, **kw: object) -> torch.Tensor:
    x = diag.clone().requires_grad_()
    (bk_features(x, **kw) * u).sum().backward()  # type: ignore[arg-type]
    assert x.grad is not None
    return x.grad


BACKENDS = ["scan", pytest.param("native", marks=pytest.mark.skipif(not native.available(), reason="no C compiler"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [2, 5, 64, 300])
def test_exact_vjp_matches_dense_jacobian(n: int, backend: str) -> None:
    diag = _diag(2, n, n)
    u = torch.randn(2, n, 2, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    got, want = _grad(diag, u, backend=backend), _dense_grad(diag, u)
    assert (got - want).abs().max() <= 1e-12 * want.abs().max()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [1, 16, 48])
def test_gradcheck_core(n: int, causal: bool, backend: str) -> None:
    x = _diag(2, n, 10 + n).requires_grad_()
    assert torch.autograd.gradcheck(lambda d: bk_features(d, 1.0, 0.3 + 1j, causal=causal, backend=backend), (x,))


@pytest.mark.skipif(not native.available(), reason="no C compiler")
@pytest.mark.parametrize("causal", [False, True])
def test_native_and_scan_agree_at_long_n(causal: bool) -> None:
    diag = _diag(3, 4096, 8).requires_grad_()
    u = torch.randn(3, 4096, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    outs = []
    for backend in ("scan", "native"):
        diag.grad = None
        f = bk_features(diag, causal=causal, backend=backend)
        (f * u).sum().backward()
        assert diag.grad is not None
        outs.append((f.detach(), diag.grad.clone()))
    assert (outs[0][0] - outs[1][0]).abs().max() < 1e-12
    assert (outs[0][1] - outs[1][1]).abs().max() < 1e-10 * outs[0][1].abs().max()


def test_gradcheck_resnet_bk_layer_n16_d8() -> None:
    """The seed's own test case: N=16, d_model=8, in fp64, through MoE, clamps and BK-Core."""
    torch.manual_seed(0)
    cfg = BKConfig(vocab_size=8, n_seq=16, d_model=8, n_layers=1, num_experts=2, channels=2, causal=False)
    layer = BKLayer(cfg).double().eval()
    x = torch.randn(1, 16, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_float32_input_gets_float32_gradient() -> None:
    diag = _diag(2, 64).float()
    u = torch.randn(2, 64, 2)
    g = _grad(diag, u)
    assert g.dtype == torch.float32
    assert (g.double() - _dense_grad(diag.double(), u.double())).abs().max() < 1e-5


def test_hybrid_is_not_the_gradient_but_its_diag_term_is_exact_for_local_loss() -> None:
    diag = _diag(2, 64, 3)
    u = torch.randn(2, 64, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exact = _grad(diag, u)
    hybrid = _grad(diag, u, grad_mode="hybrid", blend=0.5)
    cos = float((exact * hybrid).sum() / (exact.norm() * hybrid.norm()))
    assert cos < 0.9
    # -G^2 is the i = j term of -G_ij G_ji: with one site it is the whole derivative
    one = _diag(1, 1, 4)
    u1 = torch.randn(1, 1, 2, dtype=torch.float64)
    assert torch.allclose(_grad(one, u1, grad_mode="hybrid", blend=0.0), _grad(one, u1))


def test_beta_gradient_is_refused() -> None:
    beta = torch.ones(9, dtype=torch.float64, requires_grad=True)
    x = _diag(1, 10).requires_grad_()
    with pytest.raises(NotImplementedError):
        bk_features(x, beta).sum().backward()


def test_causal_gradient_ignores_later_outputs() -> None:
    diag = _diag(1, 20, 5).requires_grad_()
    f = bk_features(diag, causal=True)
    f[0, 7].sum().backward()
    assert diag.grad is not None
    assert diag.grad[0, 8:].abs().max() == 0.0
    assert diag.grad[0, :8].abs().min() > 0.0


def test_exact_vjp_direct_call_complex64() -> None:
    diag = _diag(2, 256, 6)
    alpha = core.shifted_diagonal(diag, 1j, torch.complex64)
    beta = core.coupling(1.0, alpha)
    g, d, e = core.resolvent_diag(alpha, beta)
    w = torch.randn(2, 256, dtype=torch.complex64)
    u = torch.stack([w.real, -w.imag], -1).double()
    lo = core.exact_vjp(w, g, d, e, beta).double()
    assert (lo - _dense_grad(diag, u)).abs().max() < 1e-4
