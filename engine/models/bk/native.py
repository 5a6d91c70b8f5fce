"""An optional C kernel for BK-Core on CPU: the sequential O(N) recursions, interleaved over rows.

On a CPU the torch scan (scan.py) is bound by per-op overhead and memory traffic: at
B=8, N=2048 it is a few hundred whole-tensor ops. The recursions themselves are ~85
FLOPs per site, so a plain C loop does the whole forward+backward in well under a
millisecond. This module compiles that loop with the system C compiler on first use
(under ~/.cache/lynx-workbench, keyed by a hash of the source), loads it with ctypes and
runs it on the tensors' buffers. No compiler, a non-CPU tensor or complex64 precision:
`available()` is False or the caller keeps the scan, which computes the same thing.

Two kernels: `forward`/`backward` take complex128 alpha one row at a time (the first version,
kept as the `native_rowwise` backend and for general couplings); `fused_forward`/`fused_backward`
take the real diagonal, advance 8 rows together with split real/imaginary state, convert
dtypes inside and thread over blocks of rows (the `native` backend when beta is a constant).

Set LYNX_BK_NATIVE=0 to disable it.
"""

from __future__ import annotations

import ctypes
import os
import subprocess

import torch
from torch import Tensor

from engine.hardware.cbuild import build

_SOURCE = r"""
#include <complex.h>
typedef double complex cx;

/* d_k = a_k - b_{k-1}/d_{k-1};  e_k = a_k - b_k/e_{k+1};  g = 1/(d + e - a)  (rows x n, row-major) */
void bk_forward(long rows, long n, const cx *a, const cx *b, cx *d, cx *e, cx *g, int causal) {
    for (long r = 0; r < rows; r++) {
        const cx *ar = a + r * n, *br = b + r * (n - 1);
        cx *dr = d + r * n, *er = e + r * n, *gr = g + r * n;
        dr[0] = ar[0];
        for (long k = 1; k < n; k++) dr[k] = ar[k] - br[k - 1] / dr[k - 1];
        if (causal) { for (long k = 0; k < n; k++) gr[k] = 1.0 / dr[k]; continue; }
        er[n - 1] = ar[n - 1];
        for (long k = n - 2; k >= 0; k--) er[k] = ar[k] - br[k] / er[k + 1];
        for (long k = 0; k < n; k++) gr[k] = 1.0 / (dr[k] + er[k] - ar[k]);
    }
}

/* exact VJP: out_j = -Re(g_j^2 (w_j + L_j + R_j)), L_{j+1} = r_j (L_j + w_j), R_{j-1} = s_j (R_j + w_j);
   causal: out_j = -Re(U_j), U_j = w_j g_j^2 + r_j U_{j+1}.  `tmp` holds one row of L. */
void bk_backward(long rows, long n, const cx *w, const cx *g, const cx *d, const cx *e, const cx *b,
                 double *out, cx *tmp, int causal) {
    for (long r = 0; r < rows; r++) {
        const cx *wr = w + r * n, *gr = g + r * n, *dr = d + r * n, *er = e + r * n, *br = b + r * (n - 1);
        double *o = out + r * n;
        if (causal) {
            cx u = 0;
            for (long j = n - 1; j >= 0; j--) {
                cx rj = j < n - 1 ? br[j] / (dr[j] * dr[j]) : 0;
                u = wr[j] * gr[j] * gr[j] + rj * u;
                o[j] = -creal(u);
            }
            continue;
        }
        cx left = 0;
        for (long j = 0; j < n; j++) {
            tmp[j] = left;
            if (j < n - 1) left = br[j] / (dr[j] * dr[j]) * (left + wr[j]);
        }
        cx right = 0;
        for (long j = n - 1; j >= 0; j--) {
            o[j] = -creal(gr[j] * gr[j] * (wr[j] + tmp[j] + right));
            if (j > 0) right = br[j - 1] / (er[j] * er[j]) * (right + wr[j]);
        }
    }
}

/* ---- the interleaved kernel: LANES rows advance together, split real/imaginary state ----------
   One row's recursion is a chain of dependent complex reciprocals (~40+ cycles each); LANES
   independent rows in flight hide that latency and let the lane loops vectorise. The input is
   the real diagonal v (float32 or float64, converted here), alpha = v - z, beta a real constant;
   the output is [Re G, Im G] in v's dtype. The saved pivots d (and e) never leave the kernel, so
   they are stored block-interleaved, [block][k][re lanes | im lanes]: one contiguous stream per
   block instead of 2 x LANES strided ones (at power-of-two N those alias in the caches). Blocks
   of rows are shared among `threads` OpenMP threads. */
#include <math.h>
#define LANES 8
#define RE(p, k, l) (p)[(k) * 2 * LANES + (l)]
#define IM(p, k, l) (p)[(k) * 2 * LANES + LANES + (l)]

static inline double ld(const void *p, int f32, long i) {
    return f32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static inline void st(void *p, int f32, long i, double x) {
    if (f32) ((float *)p)[i] = (float)x; else ((double *)p)[i] = x;
}

static void fwd_block(const void *v, int f32, long r0, int m, long n, double zr, double zi, double beta,
                      int causal, void *feat, double *dd, double *ee) {
    double pr[LANES], pi[LANES];
    for (int l = 0; l < m; l++) { long o = (r0 + l) * n; pr[l] = ld(v, f32, o) - zr; pi[l] = -zi; }
    for (long k = 0; k < n; k++) {
        for (int l = 0; l < m; l++) {
            long o = (r0 + l) * n + k;
            if (k > 0) {  /* d_k = alpha_k - beta / d_{k-1} */
                double s = beta / (pr[l] * pr[l] + pi[l] * pi[l]);
                double qr = pr[l] * s, qi = -pi[l] * s;
                pr[l] = ld(v, f32, o) - zr - qr; pi[l] = -zi - qi;
            }
            RE(dd, k, l) = pr[l]; IM(dd, k, l) = pi[l];
            if (causal) {
                double s = 1.0 / (pr[l] * pr[l] + pi[l] * pi[l]);
                st(feat, f32, 2 * o, pr[l] * s); st(feat, f32, 2 * o + 1, -pi[l] * s);
            }
        }
    }
    if (causal) return;
    for (int l = 0; l < m; l++) { long o = (r0 + l) * n + n - 1; pr[l] = ld(v, f32, o) - zr; pi[l] = -zi; }
    for (long k = n - 1; k >= 0; k--) {
        for (int l = 0; l < m; l++) {
            long o = (r0 + l) * n + k;
            double ar = ld(v, f32, o) - zr;
            if (k < n - 1) {
                double s = beta / (pr[l] * pr[l] + pi[l] * pi[l]);
                pr[l] = ar - pr[l] * s; pi[l] = -zi + pi[l] * s;
            }
            RE(ee, k, l) = pr[l]; IM(ee, k, l) = pi[l];
            double tr = RE(dd, k, l) + pr[l] - ar, ti = IM(dd, k, l) + pi[l] + zi;  /* d + e - alpha */
            double s = 1.0 / (tr * tr + ti * ti);
            st(feat, f32, 2 * o, tr * s); st(feat, f32, 2 * o + 1, -ti * s);
        }
    }
}

/* dd, ee: (blocks, n, 2, LANES) float64 */
void bk_fused_forward(const void *v, int f32, long rows, long n, double zr, double zi, double beta, int causal,
                      void *feat, double *dd, double *ee, int threads) {
    long blocks = (rows + LANES - 1) / LANES;
    #pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1 && rows * n >= (1L << 16))
    for (long b = 0; b < blocks; b++) {
        long r0 = b * LANES, off = b * n * 2 * LANES;
        int m = rows - r0 < LANES ? (int)(rows - r0) : LANES;
        fwd_block(v, f32, r0, m, n, zr, zi, beta, causal, feat, dd + off, ee + off);
    }
}

/* exact VJP, w = conj(dL/dRe G + i dL/dIm G).  causal: U_j = g_j^2 (w_j + beta U_{j+1}), out = -Re U.
   full: L_{j+1} = beta / d_j^2 (L_j + w_j), R_{j-1} = beta / e_j^2 (R_j + w_j), out = -Re(G^2 (w + L + R)).
   ll: scratch for L, laid out like dd. */
static void bwd_block(const void *gf, const void *v, int f32, long r0, int m, long n, double zr, double zi,
                      double beta, int causal, const double *dd, const double *ee, double *ll, void *out) {
    double ur[LANES], ui[LANES];
    for (int l = 0; l < m; l++) { ur[l] = 0; ui[l] = 0; }
    if (causal) {
        for (long j = n - 1; j >= 0; j--) {
            for (int l = 0; l < m; l++) {
                long o = (r0 + l) * n + j;
                double dr = RE(dd, j, l), di = IM(dd, j, l);
                double s = 1.0 / (dr * dr + di * di);
                double gr = dr * s, gi = -di * s;
                double g2r = gr * gr - gi * gi, g2i = 2 * gr * gi;
                double wr = ld(gf, f32, 2 * o) + beta * ur[l], wi = -ld(gf, f32, 2 * o + 1) + beta * ui[l];
                ur[l] = g2r * wr - g2i * wi; ui[l] = g2r * wi + g2i * wr;
                st(out, f32, o, -ur[l]);
            }
        }
        return;
    }
    for (long j = 0; j < n; j++) {
        for (int l = 0; l < m; l++) {
            long o = (r0 + l) * n + j;
            RE(ll, j, l) = ur[l]; IM(ll, j, l) = ui[l];
            double dr = RE(dd, j, l), di = IM(dd, j, l), d2 = dr * dr + di * di;
            double s = beta / (d2 * d2);
            double cr = (dr * dr - di * di) * s, ci = -2 * dr * di * s;  /* beta/d^2 */
            double tr = ur[l] + ld(gf, f32, 2 * o), ti = ui[l] - ld(gf, f32, 2 * o + 1);
            ur[l] = cr * tr - ci * ti; ui[l] = cr * ti + ci * tr;
        }
    }
    for (int l = 0; l < m; l++) { ur[l] = 0; ui[l] = 0; }
    for (long j = n - 1; j >= 0; j--) {
        for (int l = 0; l < m; l++) {
            long o = (r0 + l) * n + j;
            double wr = ld(gf, f32, 2 * o), wi = -ld(gf, f32, 2 * o + 1);
            double ar = ld(v, f32, o) - zr, er = RE(ee, j, l), ei = IM(ee, j, l);
            double tr = RE(dd, j, l) + er - ar, ti = IM(dd, j, l) + ei + zi;
            double s = 1.0 / (tr * tr + ti * ti);
            double gr = tr * s, gi = -ti * s;
            double g2r = gr * gr - gi * gi, g2i = 2 * gr * gi;
            double sr = wr + RE(ll, j, l) + ur[l], si = wi + IM(ll, j, l) + ui[l];
            st(out, f32, o, -(g2r * sr - g2i * si));
            double e2 = er * er + ei * ei;
            double q = beta / (e2 * e2);
            double cr = (er * er - ei * ei) * q, ci = -2 * er * ei * q;  /* beta/e^2 */
            double xr = ur[l] + wr, xi = ui[l] + wi;
            ur[l] = cr * xr - ci * xi; ui[l] = cr * xi + ci * xr;
        }
    }
}

void bk_fused_backward(const void *gf, const void *v, int f32, long rows, long n, double zr, double zi, double beta,
                       int causal, const double *dd, const double *ee, double *ll, void *out, int threads) {
    long blocks = (rows + LANES - 1) / LANES;
    #pragma omp parallel for num_threads(threads) schedule(static) if(threads > 1 && rows * n >= (1L << 16))
    for (long b = 0; b < blocks; b++) {
        long r0 = b * LANES, off = b * n * 2 * LANES;
        int m = rows - r0 < LANES ? (int)(rows - r0) : LANES;
        bwd_block(gf, v, f32, r0, m, n, zr, zi, beta, causal, dd + off, ee + off, ll + off, out);
    }
}
"""

_LIB: ctypes.CDLL | None = None
_TRIED = False


def _build() -> ctypes.CDLL | None:
    base = ("-O3", "-fcx-limited-range")
    dll = build(_SOURCE, "bk_native", "bk", flags=(*base, "-fopenmp")) or build(_SOURCE, "bk_native", "bk", flags=base)
    if dll is None:
        return None
    i64, ptr, f64, i32 = ctypes.c_long, ctypes.c_void_p, ctypes.c_double, ctypes.c_int
    dll.bk_forward.argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, i32]
    dll.bk_backward.argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i32]
    dll.bk_fused_forward.argtypes = [ptr, i32, i64, i64, f64, f64, f64, i32, ptr, ptr, ptr, i32]
    dll.bk_fused_backward.argtypes = [ptr, ptr, i32, i64, i64, f64, f64, f64, i32, ptr, ptr, ptr, ptr, i32]
    return dll


def _lib() -> ctypes.CDLL | None:
    global _LIB, _TRIED
    if not _TRIED:
        _TRIED = True
        if os.environ.get("LYNX_BK_NATIVE", "1") != "0":
            try:
                _LIB = _build()
            except (OSError, subprocess.SubprocessError):
                _LIB = None
    return _LIB


def available() -> bool:
    return _lib() is not None


def usable(t: Tensor) -> bool:
    """True when the kernel can run on `t` (CPU, complex128) and it compiled."""
    return t.device.type == "cpu" and t.dtype == torch.complex128 and available()


def _rows(t: Tensor, n: int) -> Tensor:
    return t.reshape(-1, n).contiguous()


def forward(alpha: Tensor, beta: Tensor, causal: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(g, d, e) as core.resolvent_diag / core.causal_diag compute them (e = d when causal)."""
    lib = _lib()
    assert lib is not None
    shape, n = alpha.shape, alpha.shape[-1]
    a, b = _rows(alpha, n), _rows(beta, max(n - 1, 0)) if n > 1 else alpha.new_zeros(1)
    d, e, g = torch.empty_like(a), torch.empty_like(a), torch.empty_like(a)
    lib.bk_forward(a.shape[0], n, a.data_ptr(), b.data_ptr(), d.data_ptr(), e.data_ptr(), g.data_ptr(), int(causal))
    if causal:
        e = d
    return g.reshape(shape), d.reshape(shape), e.reshape(shape)


def backward(w: Tensor, g: Tensor, d: Tensor, e: Tensor, beta: Tensor, causal: bool) -> Tensor:
    """dL/da (real, float64) for w = conj(dL/dG)."""
    lib = _lib()
    assert lib is not None
    shape, n = w.shape, w.shape[-1]
    rows = [_rows(t, n) for t in (w, g, d, e)]
    b = _rows(beta, n - 1) if n > 1 else w.new_zeros(1)
    out = torch.empty(rows[0].shape, dtype=torch.float64)
    tmp = torch.empty(n, dtype=torch.complex128)
    lib.bk_backward(rows[0].shape[0], n, *(t.data_ptr() for t in rows), b.data_ptr(), out.data_ptr(),
                    tmp.data_ptr(), int(causal))
    return out.reshape(shape)


# ---- the interleaved kernel: real diagonal in, features out, conversions inside -----------------

def fused_usable(diag: Tensor, beta: object, precision: str) -> bool:
    """The interleaved kernel applies: CPU float32/float64 diagonal, a constant real beta, complex128 maths."""
    return (diag.device.type == "cpu" and diag.dtype in (torch.float32, torch.float64) and precision == "complex128"
            and isinstance(beta, (int, float)) and available())


def _threads() -> int:
    return max(1, torch.get_num_threads())  # the runner sets this from the recorded thread setting


_LANES = 8  # rows per block in the C source


def _pivot_buffer(rows: int, n: int) -> Tensor:
    return torch.empty(-(-rows // _LANES) * n * 2 * _LANES, dtype=torch.float64)


def fused_forward(diag: Tensor, beta: float, z: complex, causal: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Features (..., N, 2) in diag's dtype and what the backward needs: (v, d, e), pivots block-interleaved."""
    lib = _lib()
    assert lib is not None
    n = diag.shape[-1]
    v = diag.reshape(-1, n).contiguous()
    rows = v.shape[0]
    feat = torch.empty((*diag.shape, 2), dtype=diag.dtype)
    dd = _pivot_buffer(rows, n)
    ee = dd if causal else _pivot_buffer(rows, n)
    lib.bk_fused_forward(v.data_ptr(), int(v.dtype == torch.float32), rows, n, z.real, z.imag, float(beta),
                         int(causal), feat.data_ptr(), dd.data_ptr(), ee.data_ptr(), _threads())
    return feat, (v, dd, ee)


def fused_backward(grad_feat: Tensor, saved: tuple[Tensor, ...], beta: float, z: complex, causal: bool,
                   shape: torch.Size) -> Tensor:
    """dL/d(diag) in diag's dtype from dL/d(features)."""
    lib = _lib()
    assert lib is not None
    v, dd, ee = saved
    rows, n = v.shape
    g = grad_feat.to(v.dtype).reshape(rows, n, 2).contiguous()
    out = torch.empty(rows, n, dtype=v.dtype)
    ll = dd if causal else torch.empty_like(dd)
    lib.bk_fused_backward(g.data_ptr(), v.data_ptr(), int(v.dtype == torch.float32), rows, n, z.real, z.imag,
                          float(beta), int(causal), dd.data_ptr(), ee.data_ptr(), ll.data_ptr(), out.data_ptr(),
                          _threads())
    return out.reshape(shape)
