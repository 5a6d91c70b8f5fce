"""One numeric check per step of docs/research/softmax-bound.md, plus the bound on a trained model."""

from __future__ import annotations

import numpy as np
import torch

from engine.research.dcsbm.bound_trained import bound_ratios
from engine.research.dcsbm.model import WalkTransformer
from engine.research.dcsbm.softmax_bound import softmax_jacobian

G = {"dtype": torch.float64}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_jacobian_is_diag_minus_outer() -> None:
    s = 2 * torch.randn(7, generator=_gen(0), **G)
    ref = torch.func.jacrev(lambda x: torch.softmax(x, -1))(s)
    assert float((softmax_jacobian(torch.softmax(s, -1)) - ref).abs().max()) < 1e-14


def test_jacobian_norm_at_most_half() -> None:
    n = 8
    sharp = torch.exp(2 * torch.randn(10_000, 1, generator=_gen(1), **G))
    p = torch.softmax(sharp * torch.randn(10_000, n, generator=_gen(2), **G), -1)
    norms = torch.linalg.matrix_norm(softmax_jacobian(p), ord=2)
    assert float(norms.max()) <= 0.5
    two = torch.tensor([0.5, 0.5] + [0.0] * (n - 2), **G)
    assert abs(float(torch.linalg.matrix_norm(softmax_jacobian(two), ord=2)) - 0.5) < 1e-12
    uni = torch.full((n,), 1 / n, **G)
    assert abs(float(torch.linalg.matrix_norm(softmax_jacobian(uni), ord=2)) - 1 / n) < 1e-12


def test_stage1_softmax_lipschitz() -> None:
    s = 3 * torch.randn(2000, 6, generator=_gen(3), **G)
    size = torch.exp(torch.empty(2000, 1, **G).uniform_(np.log(1e-6), np.log(10.0), generator=_gen(4)))
    d = torch.randn(2000, 6, generator=_gen(5), **G)
    d = size * d / d.norm(dim=-1, keepdim=True)
    ratio = (torch.softmax(s + d, -1) - torch.softmax(s, -1)).norm(dim=-1) / d.norm(dim=-1)
    assert float(ratio.max()) <= 0.5 + 1e-12
    s2 = torch.tensor([10.0, 10.0, -10.0, -10.0], **G)              # two-way split, worst direction, tiny step
    d2 = 1e-6 * torch.tensor([1.0, -1.0, 0.0, 0.0], **G) / 2 ** 0.5
    worst = float((torch.softmax(s2 + d2, -1) - torch.softmax(s2, -1)).norm() / d2.norm())
    assert 0.49 < worst <= 0.5


def test_frobenius_spectral_submultiplicative() -> None:
    for seed in range(20):
        g = _gen(10 + seed)
        x = torch.randn(5 + seed % 4, 6, generator=g, **G)
        v = torch.randn(6, 3 + seed % 5, generator=g, **G) * torch.logspace(0, seed % 4, 3 + seed % 5, **G)
        assert float(torch.linalg.matrix_norm(x @ v)) <= float(torch.linalg.matrix_norm(x)
                                                                * torch.linalg.matrix_norm(v, ord=2)) * (1 + 1e-12)


def test_weyl_singular_values() -> None:
    m = torch.randn(50, 9, 5, generator=_gen(40), **G)
    e = 0.1 * torch.randn(50, 9, 5, generator=_gen(41), **G)
    change = (torch.linalg.svdvals(m + e) - torch.linalg.svdvals(m)).abs()
    assert bool((change <= torch.linalg.matrix_norm(e, ord=2)[:, None] * (1 + 1e-12)).all())
    assert bool((torch.linalg.matrix_norm(e, ord=2) <= torch.linalg.matrix_norm(e) * (1 + 1e-12)).all())


def test_bound_holds_on_a_briefly_trained_walk_model() -> None:
    torch.manual_seed(0)
    model = WalkTransformer(vocab=20, n_ctx=10, d_model=16, n_layers=2, n_heads=2).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = torch.arange(20).repeat(40)[:400].view(40, 10)
    for _ in range(30):                                             # learn "next = current + 1": peaked heads
        logits, _ = model(data)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 20), data[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = bound_ratios(model.eval(), data[:16], eps=0.05, gen=_gen(7))
    assert out["ratio"].shape == (2, 2, 16)
    assert float(out["ratio"].max()) <= 1.0 and float(out["ratio"].min()) > 0
    assert float(out["lip_local"].max()) <= 0.5
