"""MoEFFN against a torch re-implementation (outputs, router and expert gradients, balancing loss),
and the balancing loss's two reference values."""

from __future__ import annotations

import numpy as np
import torch

from engine.lm.models.moe import MoEFFN, balance_loss_value, top_k_mask
from engine.scratch.autograd.tensor import Tensor


def test_balance_loss_reference_values() -> None:
    u = np.full(4, 0.25)
    assert balance_loss_value(u, u) == 1.0
    assert balance_loss_value(np.eye(4)[2], np.eye(4)[2]) == 4.0
    assert top_k_mask(np.array([[0.1, 0.5, 0.3, 0.1]]), 2).tolist() == [[0, 1, 1, 0]]


def test_moe_matches_torch() -> None:
    m = MoEFFN(8, 16, 4, 2, rng=np.random.default_rng(0), router_std=1.0, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(2, 5, 8))
    y = m(Tensor(x))
    (y.sum() + m.aux).backward()  # type: ignore[operator]

    tx = torch.tensor(x)
    router = torch.tensor(m.router.data, requires_grad=True)
    w1 = [torch.tensor(e.w1.data, requires_grad=True) for e in m.experts()]
    probs = torch.softmax(tx @ router.T, -1)
    mask = torch.zeros_like(probs).scatter(-1, probs.topk(2, -1).indices, 1.0)
    gates = probs * mask
    gates = gates / gates.sum(-1, keepdim=True)
    out = torch.zeros_like(tx)
    for e, ex in enumerate(m.experts()):
        h = torch.nn.functional.gelu(tx @ w1[e].T + torch.tensor(ex.b1.data), approximate="tanh")
        out = out + gates[..., e:e + 1] * (h @ torch.tensor(ex.w2.data).T + torch.tensor(ex.b2.data))
    f = mask.reshape(-1, 4).sum(0) / mask.sum()
    aux = 4 * (probs.reshape(-1, 4).mean(0) * f).sum()
    (out.sum() + aux).backward()
    np.testing.assert_allclose(y.data, out.detach().numpy(), atol=1e-8)
    np.testing.assert_allclose(float(m.aux.data), aux.item(), atol=1e-10)  # type: ignore[union-attr]
    np.testing.assert_allclose(m.router.grad, router.grad.numpy(), atol=1e-8)
    for e, ex in enumerate(m.experts()):
        np.testing.assert_allclose(ex.w1.grad, w1[e].grad.numpy(), atol=1e-8)
