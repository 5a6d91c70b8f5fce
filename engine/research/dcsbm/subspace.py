"""Top-k singular subspaces and the Grassmannian distance between them.

Two k-dimensional subspaces with orthonormal bases U1, U2 meet at principal angles
theta_i = arccos(s_i), s_i the singular values of U1^T U2. The geodesic (Grassmannian)
distance is sqrt(sum theta_i^2): 0 for the same subspace whatever the bases, at most
sqrt(k) * pi / 2, symmetric, and a metric (triangle inequality holds).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def top_subspace(m: Tensor, k: int, side: str = "left") -> Tensor:
    """Orthonormal basis (..., rows, k) of the top-k left (or right) singular vectors of a batch of matrices."""
    u, _, vh = torch.linalg.svd(m, full_matrices=False)
    return u[..., :k] if side == "left" else vh[..., :k, :].transpose(-1, -2)


def projector_gap(u1: Tensor, u2: Tensor) -> Tensor:
    """Largest entry of |U1 U1^T - U2 U2^T| per batch item: zero iff the spans agree, blind to signs and bases."""
    p1 = u1 @ u1.transpose(-1, -2)
    p2 = u2 @ u2.transpose(-1, -2)
    return (p1 - p2).abs().amax(dim=(-2, -1))


def top_subspace_error(m: Tensor, k: int) -> float:
    """Worst projector gap between top_subspace and numpy.linalg.svd's leading k vectors, both sides, float64.

    numpy's LAPACK call is an independent reference for the function the drift metric relies on;
    computing both sides catches a slice that keeps the wrong end of either factor.
    """
    m64 = m.detach().to(torch.float64)
    u_np, _, vh_np = np.linalg.svd(m64.cpu().numpy(), full_matrices=False)
    ref = {"left": torch.from_numpy(u_np[..., :k].copy()),
           "right": torch.from_numpy(np.swapaxes(vh_np[..., :k, :], -1, -2).copy())}
    gaps = [projector_gap(top_subspace(m64, k, side).cpu(), ref[side]).max() for side in ("left", "right")]
    return float(max(gaps))


def grassmann_distance(u1: Tensor, u2: Tensor) -> Tensor:
    """Geodesic distance between the column spans of orthonormal bases u1, u2 (batched)."""
    s = torch.linalg.svdvals(u1.transpose(-1, -2) @ u2).clamp(-1.0, 1.0)
    return torch.arccos(s).pow(2).sum(-1).sqrt()


def bases_at_angles(angles: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Two orthonormal k-bases in R^(2k) whose principal angles are exactly `angles` (float64).

    U1 = [e_1..e_k], U2_i = cos(a_i) e_i + sin(a_i) e_(k+i); then a random rotation of the space and
    a random change of basis inside U2, which change neither span nor angles.
    """
    k = angles.numel()
    eye = torch.eye(2 * k, dtype=torch.float64)
    u1 = eye[:, :k]
    u2 = eye[:, :k] * angles.cos() + eye[:, k:] * angles.sin()
    rot = torch.linalg.qr(torch.randn(2 * k, 2 * k, generator=gen, dtype=torch.float64))[0]
    mix = torch.linalg.qr(torch.randn(k, k, generator=gen, dtype=torch.float64))[0]
    return rot @ u1, rot @ u2 @ mix


def grassmann_calibration_error(angles: Tensor, gen: torch.Generator) -> float:
    """|grassmann_distance - sqrt(sum a_i^2)| for bases built with known principal angles."""
    a = angles.to(torch.float64)
    u1, u2 = bases_at_angles(a, gen)
    return abs(float(grassmann_distance(u1, u2)) - float(a.pow(2).sum().sqrt()))


def max_distance(k: int) -> float:
    return math.sqrt(k) * math.pi / 2


def drift(bases: Tensor) -> Tensor:
    """(..., T, rows, k) bases along a trajectory -> (..., T) distance to the previous step (NaN at step 0)."""
    d = grassmann_distance(bases[..., 1:, :, :], bases[..., :-1, :, :])
    pad = torch.full_like(d[..., :1], float("nan"))
    return torch.cat([pad, d], dim=-1)
