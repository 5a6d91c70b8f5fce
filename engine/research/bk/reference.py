"""Slow references for checking BK-Core: sequential loops over N (vectorised over the batch).

`sequential_diag` runs the pivot recursions one site at a time (numerically the same
algorithm as the scan, so it checks the scan at any N where a dense inverse is too big).
`naive_minors_diag` is the textbook form the seed started from: raw minors theta and phi,
G_ii = theta_{i-1} phi_{i+1} / theta_N, with no rescaling. It overflows once |theta_N|
passes ~1e308 (a few hundred to a thousand sites), which is why the core never forms them.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _shift(diag: Tensor, z: complex) -> Tensor:
    return diag.to(torch.complex128) - z


def sequential_diag(diag: Tensor, beta: float = 1.0, z: complex = 1j) -> Tensor:
    alpha = _shift(diag, z)
    n = alpha.shape[-1]
    d = torch.empty_like(alpha)
    e = torch.empty_like(alpha)
    d[..., 0] = alpha[..., 0]
    for k in range(1, n):
        d[..., k] = alpha[..., k] - beta / d[..., k - 1]
    e[..., n - 1] = alpha[..., n - 1]
    for k in range(n - 2, -1, -1):
        e[..., k] = alpha[..., k] - beta / e[..., k + 1]
    return 1.0 / (d + e - alpha)


def naive_minors_diag(diag: Tensor, beta: float = 1.0, z: complex = 1j) -> Tensor:
    alpha = _shift(diag, z)
    n = alpha.shape[-1]
    theta = [torch.ones_like(alpha[..., 0]), alpha[..., 0]]
    for k in range(1, n):
        theta.append(alpha[..., k] * theta[-1] - beta * theta[-2])
    phi = [torch.ones_like(alpha[..., 0]), alpha[..., n - 1]]  # phi_{N+1}, phi_N, built right to left
    for k in range(n - 2, -1, -1):
        phi.append(alpha[..., k] * phi[-1] - beta * phi[-2])
    th = torch.stack(theta, -1)  # theta_0 .. theta_N
    ph = torch.stack(phi[::-1], -1)  # phi_1 .. phi_{N+1}
    return th[..., :-1] * ph[..., 1:] / th[..., -1:]
