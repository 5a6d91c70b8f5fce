"""Second-order tools on a model that calls F.scaled_dot_product_attention (the project's TransformerLM).

The fused CPU/GPU kernels have no double-backward and no forward-mode rule; curvature.py pins SDPA to
the math backend. Checked: HVPs by both routes equal the exact Hessian's product, Lanczos recovers the
exact top eigenvalues, and Hutchinson's diagonal matches the exact diagonal in expectation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.lm.models.attention import TransformerLM
from engine.research.crossmetric import curvature, flat


def _setup() -> tuple[torch.nn.Module, torch.Tensor, object]:
    torch.manual_seed(0)
    model = TransformerLM(5, 5, d_model=4, n_layers=1, n_heads=2, mlp_ratio=1).double()
    x = torch.randint(0, 5, (3, 5))
    params = flat.param_dict(model)

    def loss(m: torch.nn.Module, p: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(flat.call(m, p, x[:, :-1]).reshape(-1, 5), x[:, 1:].reshape(-1))

    return model, flat.flatten(params), flat.loss_of_flat(model, params, loss)


def test_hvp_hessian_and_lanczos_through_fused_attention() -> None:
    _, theta, f = _setup()
    assert theta.numel() > 150
    h = curvature.exact_hessian(f, theta)          # reverse-over-reverse, vectorised
    assert torch.allclose(h, h.T, atol=1e-10)
    v = torch.randn(theta.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = h @ v
    hvp = curvature.HVP(f, theta)                  # forward-over-reverse
    for hv in (hvp(v), curvature.hvp_double_backward(f, theta, v)):
        assert float((hv - ref).norm() / ref.norm()) < 1e-10
    exact = torch.linalg.eigvalsh(h).flip(0)
    ritz = curvature.lanczos(hvp, theta, torch.Generator().manual_seed(2), m=24)
    assert abs(float(ritz[0] - exact[0])) < 1e-6 * abs(float(exact[0]))
