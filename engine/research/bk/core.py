"""BK-Core maths: diag((H - zI)^-1) for tridiagonal H in O(N), and its exact gradient.

Notation (1-based in the comments, 0-based in code). T = H - zI has diagonal
alpha_k = a_k - z, and the off-diagonals enter G_kk only through beta_k = b_k c_k, the
product of the super- and sub-diagonal entries that couple sites k and k+1.

Forward. The leading minors theta_k = det T[1..k] obey
    theta_k = alpha_k theta_{k-1} - beta_{k-1} theta_{k-2},
and the trailing minors phi_k = det T[k..N] the mirror recursion. Both overflow double
precision within a few hundred sites (|theta_k| grows like |d|^k). We never form them:
the pivots d_k = theta_k / theta_{k-1} and e_k = phi_k / phi_{k+1} are the projective
action of the 2x2 transfer matrices [[alpha_k, -beta_{k-1}], [1, 0]], computed by a
rescaled parallel scan (scan.py). Expanding det T along row k gives
    G_kk = theta_{k-1} phi_{k+1} / theta_N = 1 / (d_k + e_k - alpha_k),
and log|det T| = sum_k log|d_k| comes for free.

Exact gradient. dG_ii/da_j = -G_ij G_ji. For a tridiagonal T the off-diagonal entries
are ratios of the same minors, which gives (i < j and i > j respectively)
    G_ij G_ji = G_jj^2 * prod_{k=i}^{j-1} r_k,   r_k = beta_k / d_k^2
    G_ij G_ji = G_jj^2 * prod_{k=j+1}^{i} s_k,   s_k = beta_{k-1} / e_k^2
For a real loss with dL/dRe G = gR, dL/dIm G = gI, put w = gR - i gI; then
    dL/da_j = -Re( G_jj^2 (w_j + L_j + R_j) ),
    L_{j+1} = r_j (L_j + w_j),  L_1 = 0        (a forward linear recurrence)
    R_{j-1} = s_j (R_j + w_j),  R_N = 0        (a backward linear recurrence)
Both recurrences are affine scans, so the whole VJP is O(N) and exact.

Causal variant. G_ii mixes the left (theta) and right (phi) sides, so a language model
built on it sees the future. The causal feature is g_i = 1/d_i = [(T[1..i])^-1]_ii, the
resolvent of the operator truncated at the current token. Its VJP is one backward scan:
    U_j = w_j g_j^2 + r_j U_{j+1},   dL/da_j = -Re(U_j).

Seed "hybrid" gradient. The seed blends -G^2 (the i = j term alone, dropping every
off-diagonal term) with a heuristic -1/G^2. Neither is the derivative; `hybrid_vjp`
keeps it so the workbench can measure how far it is from the exact one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.research.bk.scan import linear_recurrence, prefix_product

COMPLEX = {"complex128": torch.complex128, "complex64": torch.complex64}


def as_complex_dtype(precision: str) -> torch.dtype:
    if precision not in COMPLEX:
        raise ValueError(f"precision must be one of {sorted(COMPLEX)}, got {precision!r}")
    return COMPLEX[precision]


def shifted_diagonal(diag: Tensor, z: complex, cdtype: torch.dtype) -> Tensor:
    """alpha = a - z as a complex tensor."""
    return diag.to(cdtype) - torch.tensor(z, dtype=cdtype, device=diag.device)


def coupling(beta: Tensor | float, like: Tensor) -> Tensor:
    """beta_k = b_k c_k broadcast to (..., N-1) in the complex dtype of `like`."""
    n = like.shape[-1]
    shape = (*like.shape[:-1], max(n - 1, 0))
    if not isinstance(beta, Tensor):
        return torch.full(shape, beta, dtype=like.dtype, device=like.device)
    return beta.to(like.dtype).expand(shape)


def _transfer(alpha: Tensor, beta: Tensor) -> Tensor:
    """M_k = [[alpha_k, -beta_{k-1}], [1, 0]] with beta_0 = 0, shaped (..., N, 2, 2)."""
    m = torch.zeros((*alpha.shape, 2, 2), dtype=alpha.dtype, device=alpha.device)
    m[..., 0, 0] = alpha
    m[..., 1:, 0, 1] = -beta
    m[..., 1, 0] = 1
    return m


def pivots(alpha: Tensor, beta: Tensor) -> Tensor:
    """d_k = theta_k / theta_{k-1}: d_1 = alpha_1, d_k = alpha_k - beta_{k-1} / d_{k-1}.

    d_k is the ratio of the first column of the rescaled product M_k ... M_1.
    """
    p = prefix_product(_transfer(alpha, beta), normalize=True)
    return p[..., 0, 0] / p[..., 1, 0]


def both_pivots(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
    """Forward pivots d and backward pivots e (e_k = phi_k / phi_{k+1}), each (..., N).

    e is d of the mirrored chain; both chains go through one scan, stacked on a new axis.
    """
    flip = (-1,)
    m = torch.stack([_transfer(alpha, beta), _transfer(torch.flip(alpha, flip), torch.flip(beta, flip))])
    p = prefix_product(m, normalize=True)
    ratio = p[..., 0, 0] / p[..., 1, 0]
    return ratio[0], torch.flip(ratio[1], flip)


def resolvent_diag(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """G = diag(T^-1) with its pivots (for the backward pass). Shapes (..., N)."""
    d, e = both_pivots(alpha, beta)
    return 1.0 / (d + e - alpha), d, e


def causal_diag(alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor]:
    """g_i = [(T[1..i])^-1]_ii = 1 / d_i, which depends on sites 1..i only."""
    d = pivots(alpha, beta)
    return 1.0 / d, d


def log_abs_det(alpha: Tensor, beta: Tensor) -> Tensor:
    """log|det(H - zI)| = sum_k log|d_k|, finite at any N."""
    return torch.log(pivots(alpha, beta).abs()).sum(-1)


def exact_vjp(w: Tensor, g: Tensor, d: Tensor, e: Tensor, beta: Tensor) -> Tensor:
    """dL/da for G = diag(T^-1), given w = conj(dL/dG) (..., N). Returns a real tensor."""
    if w.shape[-1] == 1:
        return -(g * g * w).real
    r = beta / (d[..., :-1] * d[..., :-1])  # r_k, k = 1..N-1
    s = beta / (e[..., 1:] * e[..., 1:])  # s_k, k = 2..N
    flip = (-1,)
    a = torch.stack([r, torch.flip(s, flip)])  # L runs forward, R backward: one scan for both
    b = torch.stack([r * w[..., :-1], torch.flip(s * w[..., 1:], flip)])
    x = linear_recurrence(a, b)
    left, right = x[0], torch.flip(x[1], flip)  # L_2..L_N and R_1..R_{N-1}
    total = w.clone()
    total[..., 1:] += left
    total[..., :-1] += right
    return -(g * g * total).real


def causal_vjp(w: Tensor, g: Tensor, d: Tensor, beta: Tensor) -> Tensor:
    """dL/da for the causal feature g = 1/d."""
    wg = w * g * g
    if w.shape[-1] == 1:
        return -wg.real
    r = beta / (d[..., :-1] * d[..., :-1])
    a = torch.cat([r, torch.zeros_like(r[..., :1])], dim=-1)  # U_j = wg_j + r_j U_{j+1}
    return -linear_recurrence(a, wg, reverse=True).real


def hybrid_vjp(w: Tensor, g: Tensor, blend: float, max_grad: float = 1000.0) -> Tensor:
    """The seed's blend of -G^2 and a heuristic -1/G^2 (not a derivative; kept for comparison)."""
    g2 = g * g
    mag = g2.abs()
    floor = 1e-3
    denom = torch.where(mag < floor, g2 / (mag + 1e-9) * floor, g2)
    theoretical = -(w * g2).real
    heuristic = -(w / (denom + 1e-6)).real
    grad = (1.0 - blend) * theoretical + blend * heuristic
    return torch.nan_to_num(grad).clamp(-max_grad, max_grad)


def dense_diag_inverse(diag: Tensor, beta_sup: Tensor | float, beta_sub: Tensor | float, z: complex) -> Tensor:
    """Reference diag((H - zI)^-1) by a dense inverse, O(N^3). For checks at small N."""
    n = diag.shape[-1]
    cd = torch.complex128
    t = torch.diag_embed(diag.to(cd) - z)
    sup = torch.as_tensor(beta_sup, dtype=cd).expand(*diag.shape[:-1], n - 1)
    sub = torch.as_tensor(beta_sub, dtype=cd).expand(*diag.shape[:-1], n - 1)
    t = t + torch.diag_embed(sup, offset=1) + torch.diag_embed(sub, offset=-1)
    return torch.diagonal(dense_inverse(t), dim1=-2, dim2=-1)


def dense_inverse(t: Tensor) -> Tensor:
    """torch.linalg.inv on one thread: the reference for the checks.

    With two intra-op threads, batched complex128 inverses from this torch build's MKL
    (ZLASWP "Parameter 6 was incorrect") came back wrong or raised, which made the dense
    checks fail depending on the thread count an earlier test left behind.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.inv(t)
    finally:
        torch.set_num_threads(before)
