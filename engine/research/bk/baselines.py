"""Other ways a researcher would compute diag((H - zI)^-1) for a tridiagonal H: the baselines.

BK-Core's claim is speed, so it has to be timed against what one would write instead,
not only against softmax attention. Each function returns the full (two-sided) G_ii for
rows of a real diagonal `diag` (rows, N), constant couplings `beta` = b*c, shift z:

    python_loop_diag   plain Python complex numbers, one site per iteration (no torch)
    numpy_loop_diag    the same recursion, one NumPy op per site, vectorised over the rows
    banded_solve_diag  scipy.linalg.solve_banded with the identity as right-hand side: the
                       diagonal of the full inverse from a banded LU, O(N^2) work and memory,
                       the generic-library answer (only for N up to a few thousand)
    torch_loop_diag    the seed's style: torch scalar-sized ops per site (batch-vectorised);
                       kept as one row because the old ">= 50x" headline was measured against it
    cyclic_reduction_diag  odd-even cyclic reduction, NumPy, vectorised over rows and over the
                       sites of each level: O(N) work in log2(N) whole-array levels, the
                       parallel-friendly alternative to the sequential recursions

The loops compute the same pivots d_k = a_k - beta/d_{k-1}, e_k = a_k - beta/e_{k+1},
G = 1/(d + e - a); the banded solve and cyclic reduction never form them, so each doubles as
an independent check of the kernel.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from engine.research.bk.reference import sequential_diag


def python_loop_diag(diag: list[list[float]], beta: float = 1.0, z: complex = 1j) -> list[list[complex]]:
    out = []
    for row in diag:
        a = [x - z for x in row]
        n = len(a)
        d, e = [0j] * n, [0j] * n
        d[0] = a[0]
        for k in range(1, n):
            d[k] = a[k] - beta / d[k - 1]
        e[n - 1] = a[n - 1]
        for k in range(n - 2, -1, -1):
            e[k] = a[k] - beta / e[k + 1]
        out.append([1.0 / (d[k] + e[k] - a[k]) for k in range(n)])
    return out


def numpy_loop_diag(diag: np.ndarray, beta: float = 1.0, z: complex = 1j) -> np.ndarray:
    a = np.ascontiguousarray((diag - z).T)  # (N, rows): one contiguous vector per site
    n = a.shape[0]
    d, e = np.empty_like(a), np.empty_like(a)
    d[0] = a[0]
    for k in range(1, n):
        np.subtract(a[k], beta / d[k - 1], out=d[k])
    e[n - 1] = a[n - 1]
    for k in range(n - 2, -1, -1):
        np.subtract(a[k], beta / e[k + 1], out=e[k])
    result: np.ndarray = (1.0 / (d + e - a)).T
    return result


def banded_solve_diag(diag: np.ndarray, beta: float = 1.0, z: complex = 1j) -> np.ndarray:
    rows, n = diag.shape
    eye = np.eye(n, dtype=np.complex128)
    out = np.empty((rows, n), dtype=np.complex128)
    for r in range(rows):
        ab = np.zeros((3, n), dtype=np.complex128)
        ab[0, 1:] = 1.0  # super-diagonal b_k = 1, sub-diagonal c_k = beta: b*c = beta
        ab[1] = diag[r] - z
        ab[2, :-1] = beta
        out[r] = np.diagonal(scipy.linalg.solve_banded((1, 1), ab, eye, check_finite=False))
    return out


def torch_loop_diag(diag: torch.Tensor, beta: float = 1.0, z: complex = 1j) -> torch.Tensor:
    return sequential_diag(diag, beta, z)


def cyclic_reduction_diag(diag: np.ndarray, beta: float = 1.0, z: complex = 1j) -> np.ndarray:
    """diag((H - zI)^-1) by odd-even cyclic reduction, batched over the rows of `diag` (rows, N).

    The diagonal of a tridiagonal inverse depends on the couplings only through the products
    b_k c_k = beta, so the matrix is taken complex symmetric with off-diagonal sqrt(beta); its
    inverse G is then symmetric too. See `_cr_inverse_bands` for the recursion."""
    a = np.asarray(diag, dtype=np.float64) - z
    rows, n = a.shape
    s = np.full((rows, n - 1), np.sqrt(complex(beta)), dtype=np.complex128)
    return _cr_inverse_bands(a.astype(np.complex128), s)[0]


def _cr_inverse_bands(a: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The diagonal g and super-diagonal h of T^-1 for the complex symmetric tridiagonal T = (s, a, s).

    One level eliminates the odd sites: their rows are diagonal in the odd block, so the Schur
    complement on the even sites is tridiagonal again,
        a'_m = a_2m - s_{2m-1}^2 / a_{2m-1} - s_2m^2 / a_{2m+1},   s'_m = -s_2m s_{2m+1} / a_{2m+1},
    and its inverse is T^-1 restricted to the even sites (recursion, half the size). Row i = 2m+1
    of T G = I then gives the odd sites' entries from their two even neighbours L = 2m, R = 2m+2:
        G_iL = -(s_{i-1} G_LL + s_i G_RL) / a_i,   G_iR = -(s_{i-1} G_LR + s_i G_RR) / a_i,
        G_ii = (1 - s_{i-1} G_Li - s_i G_Ri) / a_i   (G symmetric; a missing R counts as s_i = 0).
    No pivoting: with H real and Im z > 0 every Schur complement keeps Im(a') <= -Im z, away from 0."""
    rows, n = a.shape
    if n == 1:
        return 1.0 / a, np.empty((rows, 0), dtype=a.dtype)
    odd, keep = n // 2, (n + 1) // 2
    a_odd, a_even = a[:, 1::2], a[:, 0::2]
    s_left = s[:, 0::2]  # s_{i-1} for odd i: always present, `odd` of them
    s_right = np.zeros_like(s_left)  # s_i for odd i: absent for i = n-1
    s_right[:, : (n - 1) // 2] = s[:, 1::2]
    reduced = a_even.copy()
    reduced[:, :odd] -= s_left**2 / a_odd
    reduced[:, 1 : keep] -= (s_right**2 / a_odd)[:, : keep - 1]
    g_even, h_even = _cr_inverse_bands(reduced, (-s_left * s_right / a_odd)[:, : keep - 1])
    g_right = np.zeros_like(a_odd)  # G_RR, zero where there is no R (its s_i is zero)
    g_right[:, : keep - 1] = g_even[:, 1:]
    h_mid = np.zeros_like(a_odd)  # G_LR
    h_mid[:, : keep - 1] = h_even
    g_il = -(s_left * g_even[:, :odd] + s_right * h_mid) / a_odd
    g_ir = -(s_left * h_mid + s_right * g_right) / a_odd
    g = np.empty_like(a)
    h = np.empty((rows, n - 1), dtype=a.dtype)
    g[:, 0::2], g[:, 1::2] = g_even, (1.0 - s_left * g_il - s_right * g_ir) / a_odd
    h[:, 0::2], h[:, 1::2] = g_il, g_ir[:, : (n - 1) // 2]
    return g, h


BASELINES = ("python_loop", "numpy_loop", "banded_solve", "torch_loop", "cyclic_reduction")
