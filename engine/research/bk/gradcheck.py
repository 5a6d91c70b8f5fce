"""The checks behind experiment bk-gradcheck: BK-Core's forward and gradients against dense and
sequential references, and what the seed's hybrid gradient gets wrong.

Every reference is independent of the O(N) scan it checks: a dense inverse (forward, small N), the
dense Jacobian dG_ii/da_j = -G_ij G_ji (backward), central finite differences, a sequential loop
(large N), torch.autograd.gradcheck. Each function draws from the caller's generator in a fixed
order, so a seeded run is repeatable.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from engine.research.bk import core
from engine.research.bk.function import bk_features, bk_resolvent
from engine.research.bk.model import BKConfig, BKLayer
from engine.research.bk.reference import naive_minors_diag, sequential_diag


def rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def cos(a: Tensor, b: Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-300))


def dense_vjp(diag: Tensor, w: Tensor, z: complex, causal: bool) -> Tensor:
    """sum_i Re(w_i dG_ii/da_j) from dense inverses: dG_ii/da_j = -G_ij G_ji."""
    n = diag.shape[-1]
    t = torch.diag_embed(diag.to(torch.complex128) - z)
    ones = torch.ones(*diag.shape[:-1], n - 1, dtype=torch.complex128)
    t = t + torch.diag_embed(ones, 1) + torch.diag_embed(ones, -1)
    if not causal:
        inv = core.dense_inverse(t)
        return -(w.unsqueeze(-1) * inv * inv.transpose(-1, -2)).sum(-2).real
    out = torch.zeros_like(diag)
    for i in range(n):  # feature i is the last diagonal entry of the inverse of T[:i+1, :i+1]
        inv = core.dense_inverse(t[..., : i + 1, : i + 1])
        out[..., : i + 1] -= (w[..., i : i + 1] * inv[..., i, :] * inv[..., :, i]).real
    return out


def fd_vjp(diag: Tensor, u: Tensor, z: complex, causal: bool, eps: float) -> Tensor:
    """Central differences of L = <u, features>, all N perturbations in one batched call."""
    n = diag.shape[-1]
    eye = torch.eye(n, dtype=diag.dtype)
    plus = bk_features(diag.unsqueeze(-2) + eps * eye, 1.0, z, causal=causal)
    minus = bk_features(diag.unsqueeze(-2) - eps * eye, 1.0, z, causal=causal)
    return ((plus - minus) * u.unsqueeze(-3)).sum((-1, -2)) / (2 * eps)


def grad(diag: Tensor, u: Tensor, z: complex, causal: bool, grad_mode: str, blend: float) -> Tensor:
    x = diag.clone().requires_grad_()
    (bk_features(x, 1.0, z, causal=causal, grad_mode=grad_mode, blend=blend) * u).sum().backward()
    assert x.grad is not None
    return x.grad


def gradcheck_layer(seed: int) -> bool:
    torch.manual_seed(seed)
    cfg = BKConfig(vocab_size=8, n_seq=16, d_model=8, n_layers=1, ffn="moe", num_experts=2, causal=False)
    layer = BKLayer(cfg).double().eval()  # eval: MoE routes by argmax, so the map is deterministic
    x = torch.randn(1, 16, 8, dtype=torch.float64, requires_grad=True)
    return bool(torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6, rtol=1e-4))


def gradient_rows(diag: Tensor, u: Tensor, z: complex, causal: bool, fd_eps: float, blend: float,
                  exact_mode: str = "exact") -> tuple[Tensor, dict[str, Tensor]]:
    """(dense VJP, {exact, finite_diff, hybrid, diag_only}) for L = <u, features>; exact_mode "hybrid"
    is the experiment's fault (the hybrid gradient where the exact one should be)."""
    w = torch.complex(u[..., 0], -u[..., 1])
    return dense_vjp(diag, w, z, causal), {
        "exact": grad(diag, u, z, causal, exact_mode, blend),
        "finite_diff": fd_vjp(diag, u, z, causal, fd_eps),
        "hybrid": grad(diag, u, z, causal, "hybrid", blend),
        "diag_only": grad(diag, u, z, causal, "hybrid", 0.0)}


def long_sequences(rng: np.random.Generator, sizes: list[int], v_max: float, z: complex,
                   raw_minors: bool = False) -> tuple[float, bool, bool, list[tuple[int, float, float]]]:
    """The scan (or, as the fault, raw minors) against a sequential loop at each N: worst relative
    error, all finite, raw minors finite, and per N (n, worst error so far, log|det|)."""
    err, finite_all, naive_finite, rows = 0.0, True, True, []
    for n in sizes:
        diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, n)))
        g = naive_minors_diag(diag, 1.0, z) if raw_minors else bk_resolvent(diag, 1.0, z)
        finite = bool(torch.isfinite(g).all())
        finite_all &= finite
        err = max(err, rel(g, sequential_diag(diag, 1.0, z)) if finite else float("inf"))
        naive_finite &= bool(torch.isfinite(naive_minors_diag(diag, 1.0, z)).all())
        logdet = float(core.log_abs_det(core.shifted_diagonal(diag, z, torch.complex128),
                                        torch.ones(n - 1, dtype=torch.complex128))[0])
        rows.append((n, err, logdet))
    return err, finite_all, naive_finite, rows


def _values_and_grad(diag: Tensor, u: Tensor, z: complex, causal: bool, backend: str) -> Tensor:
    x = diag.clone().requires_grad_()
    f = bk_features(x, 1.0, z, causal=causal, backend=backend)
    (f * u.to(diag.device)).sum().backward()
    assert x.grad is not None
    return torch.cat([f.detach().flatten(), x.grad.flatten()]).cpu()


def backend_gap(rng: np.random.Generator, n: int, v_max: float, z: complex) -> float:
    """C loop against torch scan on one problem: features and exact gradients, both kinds."""
    diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, n)))
    u = torch.tensor(rng.standard_normal((2, n, 2)))
    return max(rel(_values_and_grad(diag, u, z, c, "native"), _values_and_grad(diag, u, z, c, "scan"))
               for c in (False, True))


def device_gap(rng: np.random.Generator, v_max: float, z: complex, device: str) -> float:
    """The scan on `device` against the CPU: features and exact gradients at N = 1024, both kinds."""
    diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, 1024)))
    u = torch.tensor(rng.standard_normal((2, 1024, 2)))
    return max(rel(_values_and_grad(diag.to(device), u, z, c, "scan"), _values_and_grad(diag, u, z, c, "scan"))
               for c in (False, True))


def future_leak(rng: np.random.Generator, v_max: float, z: complex, n: int = 64, t: int = 40) -> dict[str, float]:
    """Bump v at position t: how far do features before t move, for full and causal features?"""
    diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (1, n)))
    bumped = diag.clone()
    bumped[0, t] += 1.0
    moved = {c: bk_resolvent(bumped, 1.0, z, causal=c) - bk_resolvent(diag, 1.0, z, causal=c) for c in (False, True)}
    return {"full": float(moved[False][0, :t].abs().max()), "causal": float(moved[True][0, :t].abs().max())}


def gradchecks(rng: np.random.Generator, v_max: float, z: complex, seed: int) -> tuple[bool, bool]:
    """torch.autograd.gradcheck on the core (both kinds, N = 16) and on one ResNet-BK layer."""
    x = (-2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, 16)))).requires_grad_()
    core_ok = all(bool(torch.autograd.gradcheck(lambda d, c=c: bk_features(d, 1.0, z, causal=c), (x,)))
                  for c in (False, True))
    return core_ok, gradcheck_layer(seed)
