"""The BK mixer's fused projections (engine.research.bk.projections): same values as nn.Linear + clamp,
exact gradients (gradcheck in float64), and the mixer fused and unfused in agreement on every backend."""

from __future__ import annotations

import pytest
import torch

from engine.research.bk import native
from engine.research.bk.mixer import BKMixer
from engine.research.bk.projections import clamped_potential, skinny_linear


@pytest.mark.parametrize("d_in,d_out", [(2, 7), (7, 1), (5, 6)])  # both skinny sides and a square-ish one
def test_skinny_linear_gradcheck(d_in: int, d_out: int) -> None:
    g = torch.Generator().manual_seed(d_in * 10 + d_out)
    x = torch.randn(3, 4, d_in, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(d_out, d_in, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(d_out, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.equal(skinny_linear(x, w, b), torch.nn.functional.linear(x, w, b))
    assert torch.autograd.gradcheck(skinny_linear, (x, w, b))


def test_clamped_potential_gradcheck_and_values() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    w = (2.0 * torch.randn(3, 6, generator=g, dtype=torch.float64)).requires_grad_()  # some |v| > v_max
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    want = torch.nn.functional.linear(x, w, b).clamp(-1.5, 1.5) - 2.0
    got = clamped_potential(x, w, b, 1.5, -2.0)
    assert torch.equal(got, want) and (want.abs() == 3.5).any()  # clamped entries present
    assert torch.autograd.gradcheck(lambda x, w, b: clamped_potential(x, w, b, 1.5, -2.0), (x, w, b))


def test_clamp_boundary_passes_the_gradient_like_torch() -> None:
    """torch's clamp passes the gradient at v == +-v_max (inclusive); so does the fused one."""
    x = torch.tensor([[1.0], [-1.0], [2.0], [0.5]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[3.0]], dtype=torch.float64)
    b = torch.zeros(1, dtype=torch.float64)
    clamped_potential(x, w, b, 3.0, 0.0).sum().backward()
    assert x.grad is not None
    xx = x.detach().clone().requires_grad_()
    torch.nn.functional.linear(xx, w, b).clamp(-3.0, 3.0).sum().backward()
    assert xx.grad is not None and torch.equal(x.grad, xx.grad) and x.grad.tolist() == [[3.0], [3.0], [0.0], [3.0]]


@pytest.mark.parametrize("backend", ["native", "scan"])
@pytest.mark.parametrize("channels", [1, 3])
def test_mixer_fused_matches_unfused(backend: str, channels: int) -> None:
    if backend == "native" and not native.available():
        pytest.skip("no C compiler: the BK kernel cannot be built")
    torch.manual_seed(channels)
    fused = BKMixer(8, channels, backend=backend).double()
    plain = BKMixer(8, channels, backend=backend, fused=False).double()
    plain.load_state_dict(fused.state_dict())
    x = (3.0 * torch.randn(2, 40, 8, dtype=torch.float64)).requires_grad_()  # large enough that some v clamp
    gy = torch.randn(2, 40, 8, dtype=torch.float64)
    grads = []
    for m in (fused, plain):
        xx = x.detach().clone().requires_grad_()
        y = m(xx)
        y.backward(gy)
        assert xx.grad is not None
        grads.append((y.detach(), xx.grad, *(p.grad for p in m.parameters())))
    assert torch.equal(grads[0][0], grads[1][0])  # forward: the same values bit for bit
    for a, b in zip(grads[0][1:], grads[1][1:], strict=True):
        assert a is not None and b is not None and (a - b).abs().max() <= 1e-12 * (1 + b.abs().max())
    xg = x.detach()[:1, :12].clone().requires_grad_()
    assert torch.autograd.gradcheck(fused, (xg,))
