"""Parallel prefix products of 2x2 matrices, in O(N) work and O(log N) torch calls.

BK-Core is a chain of first-order recurrences: 2x2 transfer matrices for the pivots,
and affine maps x_j = A_j x_{j-1} + B_j for the exact gradient (the affine map is the
matrix [[A, B], [0, 1]]). Written as Python loops over N they cost N interpreter round
trips. Matrix products are associative, so we use the recursive odd-even
(work-efficient, Blelloch-style) scan:

    multiply neighbours in pairs  ->  scan the N/2 pairs recursively  ->  fill the even slots

Each level is one batched matmul over every row and pair at once (torch's batched 2x2
matmul is several times faster than spelling the product out elementwise), the total
work is about 2N products, and the depth is 2*log2(N) levels.

With `normalize=True` every product is divided by its largest entry. Transfer-matrix
products grow like |d|^N and overflow double precision within a few hundred sites;
only their direction matters for ratios like theta_k / theta_{k-1}, so the rescaled
scan stays O(1) for any N with no log bookkeeping.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _product(later: Tensor, earlier: Tensor, normalize: bool) -> Tensor:
    r = later @ earlier
    if normalize:
        scale = torch.view_as_real(r).abs().amax(dim=(-1, -2, -3)) if r.is_complex() else r.abs().amax(dim=(-1, -2))
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        r = r / scale[..., None, None]
    return r


def _scan(m: Tensor, normalize: bool) -> Tensor:
    n = m.shape[-3]
    if n == 1:
        return m
    half = n // 2
    evens = m[..., 0::2, :, :]  # M_0, M_2, ...   (n - half of them)
    odds = m[..., 1::2, :, :]  # M_1, M_3, ...   (half of them)
    pref = _scan(_product(odds, evens[..., :half, :, :], normalize), normalize)  # prefix through 2j+1
    out = torch.empty_like(m)
    out[..., 0, :, :] = m[..., 0, :, :]
    out[..., 1::2, :, :] = pref
    out[..., 2::2, :, :] = _product(evens[..., 1:, :, :], pref[..., : n - half - 1, :, :], normalize)
    return out


def prefix_product(m: Tensor, normalize: bool = False, reverse: bool = False) -> Tensor:
    """P_k = M_k @ ... @ M_0 for m shaped (..., N, 2, 2) (reverse: P_k = M_k @ ... @ M_{N-1})."""
    if m.shape[-3] == 0:
        return m
    if reverse:
        return torch.flip(_scan(torch.flip(m, (-3,)), normalize), (-3,))
    return _scan(m, normalize)


def linear_recurrence(a: Tensor, b: Tensor, reverse: bool = False) -> Tensor:
    """x_j = a_j x_{j-1} + b_j with x_{-1} = 0 (reverse: x_j = a_j x_{j+1} + b_j, x_N = 0).

    a, b shaped (..., N); the affine maps compose as [[a, b], [0, 1]] matrices.
    """
    m = torch.zeros((*a.shape, 2, 2), dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    m[..., 0, 0] = a
    m[..., 0, 1] = b
    m[..., 1, 1] = 1
    return prefix_product(m, reverse=reverse)[..., 0, 1]
