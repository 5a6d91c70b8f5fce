"""Parallel prefix scans over the last dimension, in O(N) work and O(log N) torch calls.

BK-Core is a chain of first-order recurrences: 2x2 transfer matrices for the pivots,
and affine maps x_j = A_j x_{j-1} + B_j for the exact gradient. Written as Python loops
over N they cost N interpreter round trips per call. Any associative `combine` turns
them into a scan; we use the recursive odd-even (work-efficient, Blelloch-style) form:

    pair up neighbours  ->  scan the N/2 pairs recursively  ->  fill in the even slots

Each level is a handful of whole-tensor ops on every batch row at once, the total work
is about 2N combines, and the depth is 2*log2(N) levels.

`combine(earlier, later)` receives two tuples of tensors with the same shapes and returns
the tuple for "apply `earlier`, then `later`".
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Elems = tuple[Tensor, ...]
Combine = Callable[[Elems, Elems], Elems]


def _take(xs: Elems, sl: slice) -> Elems:
    return tuple(x[..., sl] for x in xs)


def _scan(combine: Combine, xs: Elems) -> Elems:
    n = xs[0].shape[-1]
    if n == 1:
        return xs
    m = n // 2  # number of complete (even, odd) pairs
    evens = _take(xs, slice(0, None, 2))  # x0, x2, x4, ...  (ceil(n/2) of them)
    odds = _take(xs, slice(1, None, 2))  # x1, x3, ...      (m of them)
    pairs = combine(_take(evens, slice(0, m)), odds)  # pair j = x_{2j} then x_{2j+1}
    pref = _scan(combine, pairs)  # pref j = prefix through index 2j+1
    n_even = n - m
    # even slot 2j (j >= 1) = prefix through 2j-1, then x_{2j}
    even_rest = combine(_take(pref, slice(0, n_even - 1)), _take(evens, slice(1, n_even)))
    out = []
    for x, p, e in zip(xs, pref, even_rest, strict=True):
        o = torch.empty_like(x)
        o[..., 0] = x[..., 0]
        o[..., 2::2] = e
        o[..., 1::2] = p
        out.append(o)
    return tuple(out)


def associative_scan(combine: Combine, elems: Elems, reverse: bool = False) -> Elems:
    """Inclusive scan of `elems` (tensors shaped (..., N)) along the last dimension.

    reverse=True scans from the right: out[j] = x_j applied after x_{j+1} ... x_{N-1},
    i.e. `combine(earlier=suffix from j+1, later=x_j)`.
    """
    if elems[0].shape[-1] == 0:
        return elems
    if reverse:
        flipped = tuple(torch.flip(x, (-1,)) for x in elems)
        return tuple(torch.flip(x, (-1,)) for x in _scan(combine, flipped))
    return _scan(combine, elems)


def affine_combine(earlier: Elems, later: Elems) -> Elems:
    """Compose x -> A1 x + B1 then x -> A2 x + B2."""
    a1, b1 = earlier
    a2, b2 = later
    return a2 * a1, a2 * b1 + b2


def linear_recurrence(a: Tensor, b: Tensor, reverse: bool = False) -> Tensor:
    """x_j = a_j * x_{j-1} + b_j with x_{-1} = 0 (or, reversed, x_j = a_j x_{j+1} + b_j, x_N = 0)."""
    return associative_scan(affine_combine, (a, b), reverse=reverse)[1]


def mobius_combine(earlier: Elems, later: Elems) -> Elems:
    """Product `later @ earlier` of 2x2 matrices (m00, m01, m10, m11), rescaled.

    Only the direction of a transfer-matrix product matters for ratios such as
    theta_k / theta_{k-1}, so every product is divided by a positive scale. The entries then
    stay O(1) for any N: no overflow, no underflow, no log bookkeeping.
    """
    p00, p01, p10, p11 = earlier
    q00, q01, q10, q11 = later
    r00 = q00 * p00 + q01 * p10
    r01 = q00 * p01 + q01 * p11
    r10 = q10 * p00 + q11 * p10
    r11 = q10 * p01 + q11 * p11
    scale = torch.maximum(torch.maximum(_mag(r00), _mag(r01)), torch.maximum(_mag(r10), _mag(r11)))
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return r00 / scale, r01 / scale, r10 / scale, r11 / scale


def _mag(x: Tensor) -> Tensor:
    """A cheap magnitude (|re| + |im| for complex) used only to pick a rescaling factor."""
    if x.is_complex():
        return x.real.abs() + x.imag.abs()
    return x.abs()
