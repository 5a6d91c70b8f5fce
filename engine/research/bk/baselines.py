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

All four compute the same pivots d_k = a_k - beta/d_{k-1}, e_k = a_k - beta/e_{k+1},
G = 1/(d + e - a) (except the banded solve, which never forms them), so each doubles as an
independent check of the kernel.
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


BASELINES = ("python_loop", "numpy_loop", "banded_solve", "torch_loop")
