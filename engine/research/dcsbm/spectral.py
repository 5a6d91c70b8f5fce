"""The nine SVD metrics of the drift study, the two-tier SVD that feeds them, and spectral-curve geometry.

From singular values alone (tier 1, torch.linalg.svdvals):
    stable_rank        ||M||_F^2 / sigma_1^2
    spectral_entropy   -sum p_i log p_i with p_i = sigma_i / sum sigma   (nats)
    gap_1_2, gap_2_3, gap_4_5   sigma_1 - sigma_2, sigma_2 - sigma_3, sigma_4 - sigma_5
    condition_number   sigma_1 / sigma_r, sigma_r the smallest singular value above eps * sigma_1
                       (a causally masked QK^T is full rank; WvWo of one head has rank d_head)
From singular vectors (tier 2, torch.svd_lowrank with q = k + 5, or the full SVD):
    grassmannian_drift   distance of the top-k left subspace to the previous window's (subspace.py)
    rank1_residual       ||M - sigma_1 u_1 v_1^T||_F / ||M||_F
    read_write_alignment |u_1 . v_1| for square M: does the matrix write along the direction it reads?
                         (NaN for a non-square AVW_O)
`tier="full"` computes all from one torch.linalg.svd; `tier="two_tier"` uses svdvals for the six and
svd_lowrank for the three (what benchmarks/bench_dcsbm_svd.py times). Both agree to float precision
when q exceeds the rank or the spectrum decays; tests/test_dcsbm_spectral.py checks every metric
against matrices built with known singular values.

Spectral trajectories: the vector (sigma_1..sigma_k) along consecutive windows is a curve in R^k.
Its discrete Frenet curvature is |a_perp| / |v|^2 and its torsion |j_perp| / (|a_perp| |v|), with v, a, j
the first three finite differences (np.gradient) and _perp the part orthogonal to the earlier ones
(Gram-Schmidt). For a helix (r cos t, r sin t, h t) these are r / (r^2 + h^2) and h / (r^2 + h^2).
In R^k, k > 3, the torsion returned is the unsigned second Frenet curvature.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from engine.research.dcsbm.subspace import drift

VALUE_METRICS = ("stable_rank", "spectral_entropy", "gap_1_2", "gap_2_3", "gap_4_5", "condition_number")
VECTOR_METRICS = ("grassmannian_drift", "rank1_residual", "read_write_alignment")
METRICS = VALUE_METRICS + VECTOR_METRICS
TIERS = ("full", "two_tier")
CURVE_METRICS = ("spectral_curvature", "spectral_torsion")   # scored per window, from backward differences


def value_metrics(s: Tensor, eps: float = 1e-6) -> dict[str, Tensor]:
    """(..., r) descending singular values -> the six value-only metrics, each (...)."""
    s = s.to(torch.float64)
    top = s[..., 0].clamp_min(1e-30)
    p = s / s.sum(-1, keepdim=True).clamp_min(1e-30)
    ent = -(p * torch.log(p.clamp_min(1e-300))).sum(-1)
    pad = torch.nn.functional.pad(s, (0, max(0, 5 - s.shape[-1])))
    alive = torch.where(s > eps * top.unsqueeze(-1), s, torch.full_like(s, float("inf"))).amin(-1)
    return {"stable_rank": s.square().sum(-1) / top.square(), "spectral_entropy": ent,
            "gap_1_2": pad[..., 0] - pad[..., 1], "gap_2_3": pad[..., 1] - pad[..., 2],
            "gap_4_5": pad[..., 3] - pad[..., 4], "condition_number": top / alive}


def decompose(m: Tensor, k: int, tier: str = "full", niter: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    """Singular values (all of them) and top-k left/right singular vectors by the chosen tier."""
    if tier == "full":
        u, s, vh = torch.linalg.svd(m, full_matrices=False)
        return s, u[..., :k], vh[..., :k, :].transpose(-1, -2)
    if tier == "two_tier":
        s = torch.linalg.svdvals(m)
        q = min(k + 5, *m.shape[-2:])
        u, _, v = torch.svd_lowrank(m, q=q, niter=niter)
        return s, u[..., :k], v[..., :k]
    raise ValueError(f"unknown SVD tier {tier!r}; choose one of {TIERS}")


def trajectory_metrics(mats: Tensor, k: int, tier: str = "full") -> tuple[dict[str, Tensor], Tensor]:
    """(..., T, rows, cols) matrices along a trajectory (axis -3) -> nine metrics (..., T) and spectra (..., T, r).

    rank1_residual is taken from the singular values (exact: ||M - s1 u1 v1^T||_F^2 = ||M||_F^2 - s1^2);
    the vectors still fix the sign-free alignment and the drift.
    """
    s, u, v = decompose(mats, k, tier)
    out = value_metrics(s)
    fro2 = s.to(torch.float64).square().sum(-1)
    out["rank1_residual"] = ((fro2 - s[..., 0].to(torch.float64) ** 2).clamp_min(0) / fro2.clamp_min(1e-30)).sqrt()
    if mats.shape[-1] == mats.shape[-2]:
        out["read_write_alignment"] = (u[..., :, 0] * v[..., :, 0]).sum(-1).abs().to(torch.float64)
    else:
        out["read_write_alignment"] = torch.full(s.shape[:-1], float("nan"), dtype=torch.float64)
    out["grassmannian_drift"] = drift(u).to(torch.float64)
    return {name: out[name] for name in METRICS}, s


def rank1_residual_direct(m: Tensor) -> Tensor:
    """||M - sigma_1 u_1 v_1^T||_F / ||M||_F from the vectors: the reference for the value form above."""
    u, s, vh = torch.linalg.svd(m, full_matrices=False)
    approx = s[..., :1, None] * u[..., :, :1] @ vh[..., :1, :]
    return torch.linalg.matrix_norm(m - approx) / torch.linalg.matrix_norm(m)


def _backward(x: np.ndarray) -> np.ndarray:
    d = np.full_like(x, np.nan)
    d[1:] = x[1:] - x[:-1]
    return d


def curvature_torsion(curve: np.ndarray, causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(T, k) points -> discrete Frenet curvature (T,) and torsion (T,) (NaN where undefined).

    causal=True uses backward differences, so the value at t reads points t-3..t only (what a score of
    window t may use without seeing later windows; the first three values are NaN); the default central
    differences (np.gradient) are second-order accurate but read t+1 too."""
    c = np.asarray(curve, dtype=np.float64)
    diff = _backward if causal else (lambda x: np.gradient(x, axis=0))
    v = diff(c)
    a = diff(v)
    j = diff(a)
    speed = np.linalg.norm(v, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        e1 = v / speed[:, None]
        a_perp = a - (a * e1).sum(1, keepdims=True) * e1
        a_norm = np.linalg.norm(a_perp, axis=1)
        kappa = a_norm / speed**2
        e2 = a_perp / a_norm[:, None]
        j_perp = j - (j * e1).sum(1, keepdims=True) * e1 - (j * e2).sum(1, keepdims=True) * e2
        tau = np.linalg.norm(j_perp, axis=1) / (a_norm * speed) if c.shape[1] >= 3 else np.full(len(c), np.nan)
    return kappa, tau


def save_spectra(path: str, **arrays: np.ndarray) -> None:
    """Full singular-value spectra as compressed .npz (no pickle: allow_pickle stays off on load)."""
    np.savez_compressed(path, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})
