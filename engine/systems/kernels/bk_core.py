"""BK-Core's O(N) recurrences in Triton: one lane per row, the sites walked in order.

The same sequential recursions as the C loop (engine.research.bk.native), in float64 real and
imaginary parts (Triton has no complex type):
  forward   d_k = a_k - b_{k-1} / d_{k-1},  e_k = a_k - b_k / e_{k+1},  g_k = 1 / (d_k + e_k - a_k)
            (causal: g_k = 1 / d_k)
  backward  dL/da_j = -Re(g_j^2 (w_j + L_j + R_j)), L_{j+1} = r_j (L_j + w_j), R_{j-1} = s_j (R_j + w_j),
            r_j = b_j / d_j^2, s_j = b_{j-1} / e_j^2   (causal: U_j = w_j g_j^2 + r_j U_{j+1})
A GPU runs BLOCK_R rows per program in parallel; each row is sequential in N, which is the
baseline a parallel scan (engine.research.bk.scan) has to beat at large N and small batch.
`forward`/`backward` take and return the tensors native.forward/backward do (complex128).
Import only after engine.systems.kernels.runtime.prepare(device).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def _cdiv(xr, xi, yr, yi):
    den = yr * yr + yi * yi
    return (xr * yr + xi * yi) / den, (xi * yr - xr * yi) / den


@triton.jit
def _cmul(xr, xi, yr, yi):
    return xr * yr - xi * yi, xr * yi + xi * yr


@triton.jit
def _bk_forward(A, Bt, D, E, G, rows, n, CAUSAL: tl.constexpr, BLOCK_R: tl.constexpr):
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    ok = r < rows
    a_row = r * (2 * n)
    b_row = r * (2 * (n - 1))
    dr = tl.load(A + a_row, mask=ok, other=1.0)
    di = tl.load(A + a_row + 1, mask=ok, other=0.0)
    tl.store(D + a_row, dr, mask=ok)
    tl.store(D + a_row + 1, di, mask=ok)
    for k in range(1, n):
        ar = tl.load(A + a_row + 2 * k, mask=ok, other=1.0)
        ai = tl.load(A + a_row + 2 * k + 1, mask=ok, other=0.0)
        br = tl.load(Bt + b_row + 2 * (k - 1), mask=ok, other=0.0)
        bi = tl.load(Bt + b_row + 2 * (k - 1) + 1, mask=ok, other=0.0)
        qr, qi = _cdiv(br, bi, dr, di)
        dr, di = ar - qr, ai - qi
        tl.store(D + a_row + 2 * k, dr, mask=ok)
        tl.store(D + a_row + 2 * k + 1, di, mask=ok)
    if CAUSAL:
        for k in range(0, n):
            dr = tl.load(D + a_row + 2 * k, mask=ok, other=1.0)
            di = tl.load(D + a_row + 2 * k + 1, mask=ok, other=0.0)
            gr, gi = _cdiv(1.0, 0.0, dr, di)
            tl.store(G + a_row + 2 * k, gr, mask=ok)
            tl.store(G + a_row + 2 * k + 1, gi, mask=ok)
    else:
        er = tl.load(A + a_row + 2 * (n - 1), mask=ok, other=1.0)
        ei = tl.load(A + a_row + 2 * (n - 1) + 1, mask=ok, other=0.0)
        tl.store(E + a_row + 2 * (n - 1), er, mask=ok)
        tl.store(E + a_row + 2 * (n - 1) + 1, ei, mask=ok)
        for i in range(0, n - 1):
            k = n - 2 - i
            ar = tl.load(A + a_row + 2 * k, mask=ok, other=1.0)
            ai = tl.load(A + a_row + 2 * k + 1, mask=ok, other=0.0)
            br = tl.load(Bt + b_row + 2 * k, mask=ok, other=0.0)
            bi = tl.load(Bt + b_row + 2 * k + 1, mask=ok, other=0.0)
            qr, qi = _cdiv(br, bi, er, ei)
            er, ei = ar - qr, ai - qi
            tl.store(E + a_row + 2 * k, er, mask=ok)
            tl.store(E + a_row + 2 * k + 1, ei, mask=ok)
        for k in range(0, n):
            ar = tl.load(A + a_row + 2 * k, mask=ok, other=1.0)
            ai = tl.load(A + a_row + 2 * k + 1, mask=ok, other=0.0)
            dr = tl.load(D + a_row + 2 * k, mask=ok, other=1.0)
            di = tl.load(D + a_row + 2 * k + 1, mask=ok, other=0.0)
            er = tl.load(E + a_row + 2 * k, mask=ok, other=1.0)
            ei = tl.load(E + a_row + 2 * k + 1, mask=ok, other=0.0)
            gr, gi = _cdiv(1.0, 0.0, dr + er - ar, di + ei - ai)
            tl.store(G + a_row + 2 * k, gr, mask=ok)
            tl.store(G + a_row + 2 * k + 1, gi, mask=ok)


@triton.jit
def _bk_backward(W, G, D, E, Bt, OUT, TMP, rows, n, CAUSAL: tl.constexpr, BLOCK_R: tl.constexpr):
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    ok = r < rows
    c_row = r * (2 * n)
    b_row = r * (2 * (n - 1))
    o_row = r * n
    if CAUSAL:
        ur = tl.zeros([BLOCK_R], tl.float64)
        ui = tl.zeros([BLOCK_R], tl.float64)
        for i in range(0, n):
            j = n - 1 - i
            wr = tl.load(W + c_row + 2 * j, mask=ok, other=0.0)
            wi = tl.load(W + c_row + 2 * j + 1, mask=ok, other=0.0)
            gr = tl.load(G + c_row + 2 * j, mask=ok, other=0.0)
            gi = tl.load(G + c_row + 2 * j + 1, mask=ok, other=0.0)
            g2r, g2i = _cmul(gr, gi, gr, gi)
            xr, xi = _cmul(wr, wi, g2r, g2i)
            # r_j = b_j / d_j^2 for j < n - 1, else 0
            has = ok & (tl.full([BLOCK_R], j, tl.int32) < n - 1)
            br = tl.load(Bt + b_row + 2 * j, mask=has, other=0.0)
            bi = tl.load(Bt + b_row + 2 * j + 1, mask=has, other=0.0)
            dr = tl.load(D + c_row + 2 * j, mask=ok, other=1.0)
            di = tl.load(D + c_row + 2 * j + 1, mask=ok, other=0.0)
            d2r, d2i = _cmul(dr, di, dr, di)
            rr, ri = _cdiv(br, bi, d2r, d2i)
            tr, ti = _cmul(rr, ri, ur, ui)
            ur, ui = xr + tr, xi + ti
            tl.store(OUT + o_row + j, -ur, mask=ok)
    else:
        lr = tl.zeros([BLOCK_R], tl.float64)
        li = tl.zeros([BLOCK_R], tl.float64)
        for j in range(0, n):
            tl.store(TMP + c_row + 2 * j, lr, mask=ok)
            tl.store(TMP + c_row + 2 * j + 1, li, mask=ok)
            has = ok & (tl.full([BLOCK_R], j, tl.int32) < n - 1)
            wr = tl.load(W + c_row + 2 * j, mask=ok, other=0.0)
            wi = tl.load(W + c_row + 2 * j + 1, mask=ok, other=0.0)
            br = tl.load(Bt + b_row + 2 * j, mask=has, other=0.0)
            bi = tl.load(Bt + b_row + 2 * j + 1, mask=has, other=0.0)
            dr = tl.load(D + c_row + 2 * j, mask=ok, other=1.0)
            di = tl.load(D + c_row + 2 * j + 1, mask=ok, other=0.0)
            d2r, d2i = _cmul(dr, di, dr, di)
            rr, ri = _cdiv(br, bi, d2r, d2i)
            lr, li = _cmul(rr, ri, lr + wr, li + wi)
        rtr = tl.zeros([BLOCK_R], tl.float64)
        rti = tl.zeros([BLOCK_R], tl.float64)
        for i in range(0, n):
            j = n - 1 - i
            wr = tl.load(W + c_row + 2 * j, mask=ok, other=0.0)
            wi = tl.load(W + c_row + 2 * j + 1, mask=ok, other=0.0)
            gr = tl.load(G + c_row + 2 * j, mask=ok, other=0.0)
            gi = tl.load(G + c_row + 2 * j + 1, mask=ok, other=0.0)
            tr = tl.load(TMP + c_row + 2 * j, mask=ok, other=0.0)
            ti = tl.load(TMP + c_row + 2 * j + 1, mask=ok, other=0.0)
            g2r, g2i = _cmul(gr, gi, gr, gi)
            pr, pi = _cmul(g2r, g2i, wr + tr + rtr, wi + ti + rti)
            tl.store(OUT + o_row + j, -pr, mask=ok)
            has = ok & (tl.full([BLOCK_R], j, tl.int32) > 0)
            br = tl.load(Bt + b_row + 2 * (j - 1), mask=has, other=0.0)
            bi = tl.load(Bt + b_row + 2 * (j - 1) + 1, mask=has, other=0.0)
            er = tl.load(E + c_row + 2 * j, mask=ok, other=1.0)
            ei = tl.load(E + c_row + 2 * j + 1, mask=ok, other=0.0)
            e2r, e2i = _cmul(er, ei, er, ei)
            sr, si = _cdiv(br, bi, e2r, e2i)
            rtr, rti = _cmul(sr, si, rtr + wr, rti + wi)


def _real_rows(t: Tensor, n: int) -> Tensor:
    """(…, n) complex128 -> contiguous (rows, n, 2) float64 view."""
    return torch.view_as_real(t.reshape(-1, n).contiguous().to(torch.complex128)).contiguous()


def forward(alpha: Tensor, beta: Tensor, causal: bool, block_r: int = 64) -> tuple[Tensor, Tensor, Tensor]:
    """(g, d, e) for alpha (…, N) and beta (…, N-1), as native.forward returns them (e = d when causal)."""
    shape, n = alpha.shape, alpha.shape[-1]
    a = _real_rows(alpha, n)
    rows = a.shape[0]
    b = _real_rows(beta, n - 1) if n > 1 else a.new_zeros((rows, 1, 2))
    d, e, g = torch.empty_like(a), torch.empty_like(a), torch.empty_like(a)
    _bk_forward[(triton.cdiv(rows, block_r),)](a, b, d, e, g, rows, n, CAUSAL=causal, BLOCK_R=block_r)
    as_c = [torch.view_as_complex(t).reshape(shape) for t in (g, d, e)]
    return as_c[0], as_c[1], as_c[1] if causal else as_c[2]


def backward(w: Tensor, g: Tensor, d: Tensor, e: Tensor, beta: Tensor, causal: bool, block_r: int = 64) -> Tensor:
    """dL/da (float64, shape of w) for w = conj(dL/dG), as native.backward returns it."""
    shape, n = w.shape, w.shape[-1]
    wr, gr, dr, er = (_real_rows(t, n) for t in (w, g, d, e))
    rows = wr.shape[0]
    b = _real_rows(beta, n - 1) if n > 1 else wr.new_zeros((rows, 1, 2))
    out = torch.empty((rows, n), dtype=torch.float64, device=w.device)
    tmp = torch.empty_like(wr)
    _bk_backward[(triton.cdiv(rows, block_r),)](wr, gr, dr, er, b, out, tmp, rows, n, CAUSAL=causal, BLOCK_R=block_r)
    return out.reshape(shape)
