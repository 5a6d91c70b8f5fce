"""An optional C kernel for BK-Core on CPU: the sequential O(N) recursions, interleaved over rows.

On a CPU the torch scan (scan.py) is bound by per-op overhead and memory traffic: at
B=8, N=2048 it is a few hundred whole-tensor ops. The recursions themselves are ~85
FLOPs per site, so a plain C loop does the whole forward+backward in well under a
millisecond. This module compiles that loop with the system C compiler on first use
(under ~/.cache/lynx-workbench, keyed by a hash of the source), loads it with ctypes and
runs it on the tensors' buffers. No compiler, a non-CPU tensor or complex64 precision:
`available()` is False or the caller keeps the scan, which computes the same thing.

Three kernels: `forward`/`backward` take complex128 alpha one row at a time (the first version,
kept as the `native_rowwise` backend and for general couplings and the hybrid gradient; rows
shared among threads like the blocks below); `fused_forward`/`fused_backward`
take the real diagonal, advance 8 rows together with split real/imaginary state, convert
dtypes inside and thread over blocks of rows (the `native` backend when beta is a constant): OpenMP,
as many threads as torch.get_num_threads() (the runner's OMP_NUM_THREADS; one under
engine.core.threads.torch_threads(1)), blocks handed out one at a time; the result does not
depend on the thread count (`team_size` says how many threads a region really gets).
The causal case (what the language model runs) goes through a third, `bk_causal_*`: it saves
one pivot per 32 sites and recomputes the rest in the backward, reads and writes strided
tensors (the mixer's channel-last (B, N, C) layout and autograd's expanded gradients need no
copies), spends one reciprocal per site, and works on 32-site tiles copied into L1 (8 x 8 register
transposes for row-major float32, plain runs for channel-last), where up to four 8-wide vector
chains advance together (`_lanes` picks 8, 16 or 32 rows per block from the row count); outputs of
16 MiB and more go out with streaming stores, and big outputs come from a small pool of reusable
maps so a call does not page-fault tens of MB.
Built with -march=native (cached per CPU kind), falling back to plain -O3.

Set LYNX_BK_NATIVE=0 to disable it.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import mmap
import os
import platform
import subprocess
import sys
import warnings

import torch
from torch import Tensor

from engine.systems.hardware.cbuild import build
from engine.systems.hardware.profile import cpu_flags

_SOURCE = r"""
#include <complex.h>
typedef double complex cx;

/* d_k = a_k - b_{k-1}/d_{k-1};  e_k = a_k - b_k/e_{k+1};  g = 1/(d + e - a)  (rows x n, row-major).
   Rows are handed to `threads` OpenMP threads one at a time; each writes only its own row. */
#ifdef _OPENMP
#include <omp.h>
#endif
void bk_forward(long rows, long n, const cx *a, const cx *b, cx *d, cx *e, cx *g, int causal, int threads) {
    #pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1 && rows * n >= (1L << 16))
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
   causal: out_j = -Re(U_j), U_j = w_j g_j^2 + r_j U_{j+1}.  `tmp` (threads x n) holds one row of L per thread. */
static void bwd_rows(long r0, long r1, long n, const cx *w, const cx *g, const cx *d, const cx *e, const cx *b,
                     double *out, cx *tmp, int causal);
void bk_backward(long rows, long n, const cx *w, const cx *g, const cx *d, const cx *e, const cx *b,
                 double *out, cx *tmp, int causal, int threads) {
    #pragma omp parallel num_threads(threads) if(threads > 1 && rows * n >= (1L << 16))
    {
#ifdef _OPENMP
        cx *mine = tmp + (long)omp_get_thread_num() * n;
#else
        cx *mine = tmp;
#endif
        #pragma omp for schedule(dynamic, 1)
        for (long r = 0; r < rows; r++) bwd_rows(r, r + 1, n, w, g, d, e, b, out, mine, causal);
    }
}
static void bwd_rows(long r0, long r1, long n, const cx *w, const cx *g, const cx *d, const cx *e, const cx *b,
                     double *out, cx *tmp, int causal) {
    for (long r = r0; r < r1; r++) {
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
   of rows are shared among `threads` OpenMP threads, handed out one block at a time (dynamic): on
   a shared machine a thread that is descheduled takes fewer blocks instead of holding up the
   others. Each block writes only its own rows, so any thread count gives the same bits. */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* How many threads a parallel region of `threads` actually gets: 1 in a build without OpenMP. */
int bk_team_size(int threads) {
    int got = 1;
#ifdef _OPENMP
    #pragma omp parallel num_threads(threads)
    {
        #pragma omp single
        got = omp_get_num_threads();
    }
#else
    (void)threads;
#endif
    return got;
}
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
    #pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1 && rows * n >= (1L << 16))
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
    #pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1 && rows * n >= (1L << 16))
    for (long b = 0; b < blocks; b++) {
        long r0 = b * LANES, off = b * n * 2 * LANES;
        int m = rows - r0 < LANES ? (int)(rows - r0) : LANES;
        bwd_block(gf, v, f32, r0, m, n, zr, zi, beta, causal, dd + off, ee + off, ll + off, out);
    }
}

/* ---- the causal kernel: checkpointed pivots, strided I/O, one reciprocal per site ---------------
   The causal backward runs right to left and needs every pivot d_k. Instead of writing all of them
   (16 B/site out, 16 B/site back in), the forward keeps one pivot every CK sites; the backward
   recomputes each CK-site segment from its checkpoint and runs the adjoint over it. What crosses
   memory is then only what the op must touch: read v, write [Re g, Im g]; read v, read the incoming
   gradient, write dL/dv. One reciprocal 1/|d_k|^2 per site serves both g_k = conj(d_k)/|d_k|^2 and
   the next step's beta/d_k.
   Every tensor is addressed as (R1, R2, N[, 2]) with element strides, so the mixer's channel-last
   layout (B, N, C) and autograd's expanded gradients need no copies; a block's CL rows are
   consecutive (r1, r2) rows, i.e. consecutive channels when R2 = C.
   The work goes tile by tile, CK sites x CL rows. A tile is copied from the strided tensor into an
   L1-resident [site][row] array of doubles, the recursion runs on it as nv = CL / 8 independent
   8-wide vector chains (one row's recursion is a chain of dependent reciprocals; nv chains in
   flight hide its latency), and results go back out the same way. Copying element by element
   through strides cost more than the maths, so float32 has register paths for the two layouts
   that matter: rows adjacent (channel-last: a site of a tile is one contiguous run) and sites
   adjacent (row-major: 8 x 8 transposes, AVX2). The backward reads its tiles right to left, the
   direction it walks, so the hardware prefetcher runs ahead of it; outputs of STREAM_MIN bytes
   and more go out with streaming stores, which skip the read-for-ownership of every line. */
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
#define CK 32                    /* sites per tile, and the checkpoint spacing */
#define MAXL 32                  /* rows per block: CL = 8 * nv, nv = 1, 2 or 4, chosen by the caller */
#define PF 4                     /* software prefetch distance, tiles */
#define STREAM_MIN (16L << 20)   /* outputs at least this big (bytes) bypass the caches */
#define AI static inline __attribute__((always_inline))
typedef struct { long s1, s2, sk, sc; } lay;
typedef struct { double t[CK * MAXL] __attribute__((aligned(64))); } tile;
#define CL (8 * nv)  /* every function below that uses CL has its block's nv in scope */
enum { ANY = 0, ROWS_ADJ = 1, SITES_ADJ = 2 };

AI void bases(int nv, long r0, int m, long R2, lay L, long *base) {
    for (int l = 0; l < CL; l++) {
        long r = r0 + (l < m ? l : m - 1);  /* a partial block repeats its last row in the spare lanes */
        base[l] = (r / R2) * L.s1 + (r % R2) * L.s2;
    }
}
/* How a full block's rows sit: ROWS_ADJ when row l starts w * l elements after row 0 (w = 2 for
   interleaved (re, im) pairs), SITES_ADJ when each row's sites are contiguous; else ANY. */
AI int layout(int nv, const long *b, int m, lay L, int pair) {
    long w = pair ? 2 : 1;
    if (m < CL || (pair && L.sc != 1)) return ANY;
    int rows = 1;
    for (int l = 1; l < CL; l++) rows &= b[l] == b[0] + w * l;
    return rows ? ROWS_ADJ : L.sk == w ? SITES_ADJ : ANY;
}
AI void prefetch_tile(int nv, const void *p, int esz, const long *b, long sk, long k0, long n, int kind, int w) {
    if (k0 < 0 || k0 >= n || kind == ANY) return;
    const char *c = (const char *)p;
    long kt = k0 + CK < n ? CK : n - k0;
    for (int l = 0; l < (kind == ROWS_ADJ ? 1 : CL); l++)
        for (long k = 0; k < (kind == ROWS_ADJ ? kt : kt * sk); k += (kind == ROWS_ADJ ? 1 : 64 / esz)) {
            const char *q = c + (b[l] + (kind == ROWS_ADJ ? (k0 + k) * sk : k0 * sk + k)) * esz;
            if (w) __builtin_prefetch(q, 1, 2); else __builtin_prefetch(q, 0, 2);
        }
}

/* ---- the recursion on one tile ---- */
/* mode 1: the chain starts here (d_0 = a_0); mode 0: continue from (pr, pi, iv); mode 2: (pr, pi) is
   already d at the tile's first site (a checkpoint). g = 1/d goes to (gr, gi); ck, if given, gets d there. */
AI void tile_forward(int nv, const tile *a, long kt, int mode, double zi, double beta, v8d *pr, v8d *pi, v8d *iv,
                     tile *gr, tile *gi, double *ck) {
    for (long k = 0; k < kt; k++) {
        for (int c = 0; c < nv; c++) {
            v8d ak = *(const v8d *)(a->t + k * CL + 8 * c);
            if (k == 0 && mode == 1) { pr[c] = ak; pi[c] = (v8d){0} - zi; }
            else if (k > 0 || mode == 0) { v8d s = beta * iv[c]; pr[c] = ak - pr[c] * s; pi[c] = -zi + pi[c] * s; }
            iv[c] = 1.0 / (pr[c] * pr[c] + pi[c] * pi[c]);
            *(v8d *)(gr->t + k * CL + 8 * c) = pr[c] * iv[c];
            *(v8d *)(gi->t + k * CL + 8 * c) = -pi[c] * iv[c];
        }
        if (k == 0 && ck) for (int c = 0; c < nv; c++) {
            __builtin_memcpy(ck + 8 * c, &pr[c], 64);
            __builtin_memcpy(ck + CL + 8 * c, &pi[c], 64);
        }
    }
}
/* the adjoint, right to left: U_j = g_j^2 (w_j + beta U_{j+1}) with w = conj(dL/dg), dL/dv_j = -Re U_j */
AI void tile_adjoint(int nv, const tile *gr, const tile *gi, const tile *wr, const tile *wi, long kt, double beta,
                     v8d *ur, v8d *ui, tile *out) {
    for (long k = kt - 1; k >= 0; k--) {
        for (int c = 0; c < nv; c++) {
            long o = k * CL + 8 * c;
            v8d g_r = *(const v8d *)(gr->t + o), g_i = *(const v8d *)(gi->t + o);
            v8d g2r = g_r * g_r - g_i * g_i, g2i = 2.0 * g_r * g_i;
            v8d xr = *(const v8d *)(wr->t + o) + beta * ur[c], xi = -*(const v8d *)(wi->t + o) + beta * ui[c];
            ur[c] = g2r * xr - g2i * xi;
            ui[c] = g2r * xi + g2i * xr;
            *(v8d *)(out->t + o) = -ur[c];
        }
    }
}

/* ---- tile copies for any element type and layout: runs of adjacent rows, else element by element ----
   x[k * CL + l] is row l at site k0 + k; `desc` reads the sites right to left. */
#define TILE_IO(T, SUF)                                                                                     \
AI void get_real_any_##SUF(int nv, const T *p, const long *b, long sk, long k0, long kt, int kind, double off,  \
                           tile *x, int desc) {                                                             \
    if (kind == ROWS_ADJ) {                                                                                \
        for (long i = 0; i < kt; i++) {                                                                    \
            long k = desc ? kt - 1 - i : i;                                                                \
            const T *q = p + b[0] + (k0 + k) * sk;                                                         \
            for (int l = 0; l < CL; l++) x->t[k * CL + l] = (double)q[l] + off;                            \
        }                                                                                                  \
        return;                                                                                            \
    }                                                                                                      \
    for (int l = 0; l < CL; l++) {                                                                         \
        const T *q = p + b[l] + k0 * sk;                                                                   \
        for (long k = 0; k < kt; k++) x->t[k * CL + l] = (double)q[k * sk] + off;                          \
    }                                                                                                      \
}                                                                                                          \
AI void get_pair_any_##SUF(int nv, const T *p, const long *b, long sk, long sc, long k0, long kt, int kind,    \
                           tile *re, tile *im) {                                                            \
    if (kind == ROWS_ADJ) {                                                                                \
        for (long k = kt - 1; k >= 0; k--) {                                                               \
            const T *q = p + b[0] + (k0 + k) * sk;                                                         \
            for (int l = 0; l < CL; l++) { re->t[k * CL + l] = q[2 * l]; im->t[k * CL + l] = q[2 * l + 1]; } \
        }                                                                                                  \
        return;                                                                                            \
    }                                                                                                      \
    for (int l = 0; l < CL; l++) {                                                                         \
        const T *q = p + b[l] + k0 * sk;                                                                   \
        for (long k = 0; k < kt; k++) { re->t[k * CL + l] = q[k * sk]; im->t[k * CL + l] = q[k * sk + sc]; } \
    }                                                                                                      \
}                                                                                                          \
AI void put_real_any_##SUF(int nv, T *p, const long *b, long sk, long k0, long kt, int m, int kind,          \
                           const tile *x) {                                                                 \
    if (kind == ROWS_ADJ) {                                                                                \
        for (long k = 0; k < kt; k++) {                                                                    \
            T *q = p + b[0] + (k0 + k) * sk;                                                               \
            for (int l = 0; l < CL; l++) q[l] = (T)x->t[k * CL + l];                                       \
        }                                                                                                  \
        return;                                                                                            \
    }                                                                                                      \
    for (int l = 0; l < m; l++) {                                                                          \
        T *q = p + b[l] + k0 * sk;                                                                         \
        for (long k = 0; k < kt; k++) q[k * sk] = (T)x->t[k * CL + l];                                     \
    }                                                                                                      \
}                                                                                                          \
AI void put_pair_any_##SUF(int nv, T *p, const long *b, long sk, long sc, long k0, long kt, int m, int kind, \
                           const tile *re, const tile *im) {                                                \
    if (kind == ROWS_ADJ) {                                                                                \
        for (long k = 0; k < kt; k++) {                                                                    \
            T *q = p + b[0] + (k0 + k) * sk;                                                               \
            for (int l = 0; l < CL; l++) { q[2 * l] = (T)re->t[k * CL + l]; q[2 * l + 1] = (T)im->t[k * CL + l]; } \
        }                                                                                                  \
        return;                                                                                            \
    }                                                                                                      \
    for (int l = 0; l < m; l++) {                                                                          \
        T *q = p + b[l] + k0 * sk;                                                                         \
        for (long k = 0; k < kt; k++) { q[k * sk] = (T)re->t[k * CL + l]; q[k * sk + sc] = (T)im->t[k * CL + l]; } \
    }                                                                                                      \
}
TILE_IO(float, f32)
TILE_IO(double, f64)

/* ---- float32 register paths (AVX2): 8 x 8 transposes for adjacent sites, (re, im) (de)interleaving ---- */
#if defined(__AVX2__)
#include <immintrin.h>
#define HAVE_AVX2 1
AI void t8(__m256 *r) {  /* r[i][j] -> r[j][i] */
    __m256 t[8], s[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 8; h += 4) {
        s[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
        s[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
        s[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        s[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
    }
}
AI v8d widen(__m256 x) { v8f y; __builtin_memcpy(&y, &x, 32); return __builtin_convertvector(y, v8d); }
AI __m256 narrow(const double *p) {
    v8f y = __builtin_convertvector(*(const v8d *)p, v8f);
    __m256 x; __builtin_memcpy(&x, &y, 32); return x;
}
AI void st8(float *q, __m256 x, int nt) { if (nt) _mm256_stream_ps(q, x); else _mm256_storeu_ps(q, x); }
/* (r0 i0 .. r3 i3), (r4 i4 .. r7 i7) <-> (r0 .. r7), (i0 .. i7) */
AI void split(__m256 x0, __m256 x1, __m256 *re, __m256 *im) {
    __m256 lo = _mm256_permute2f128_ps(x0, x1, 0x20), hi = _mm256_permute2f128_ps(x0, x1, 0x31);
    *re = _mm256_shuffle_ps(lo, hi, 0x88);
    *im = _mm256_shuffle_ps(lo, hi, 0xDD);
}
AI void join(__m256 re, __m256 im, float *q, int nt) {
    __m256 lo = _mm256_unpacklo_ps(re, im), hi = _mm256_unpackhi_ps(re, im);
    st8(q, _mm256_permute2f128_ps(lo, hi, 0x20), nt);
    st8(q + 8, _mm256_permute2f128_ps(lo, hi, 0x31), nt);
}
AI int aligned32(int nv, const float *p, const long *b, long add) {
    int ok = 1;
    for (int l = 0; l < CL; l++) ok &= ((unsigned long)(p + b[l] + add) & 31) == 0;
    return ok;
}
/* sites adjacent, a full tile: 8 rows x 8 sites per transpose */
AI void get_real_t8(int nv, const float *p, const long *b, long k0, double off, tile *x, int desc) {
    for (int g = 0; g < nv; g++) for (long i = 0; i < CK; i += 8) {
        long k = desc ? CK - 8 - i : i;
        __m256 r[8];
        for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(p + b[8 * g + j] + k0 + k);
        t8(r);
        for (int j = 0; j < 8; j++) *(v8d *)(x->t + (k + j) * CL + 8 * g) = widen(r[j]) + off;
    }
}
AI void get_pair_t8(int nv, const float *p, const long *b, long k0, tile *re, tile *im) {
    for (int g = 0; g < nv; g++) for (long k = CK - 8; k >= 0; k -= 8) {
        __m256 r[8], i[8];
        for (int j = 0; j < 8; j++) {
            const float *q = p + b[8 * g + j] + 2 * (k0 + k);
            split(_mm256_loadu_ps(q), _mm256_loadu_ps(q + 8), &r[j], &i[j]);
        }
        t8(r);
        t8(i);
        for (int j = 0; j < 8; j++) {
            *(v8d *)(re->t + (k + j) * CL + 8 * g) = widen(r[j]);
            *(v8d *)(im->t + (k + j) * CL + 8 * g) = widen(i[j]);
        }
    }
}
AI void put_real_t8(int nv, float *p, const long *b, long k0, const tile *x, int nt) {
    for (int g = 0; g < nv; g++) for (long k = 0; k < CK; k += 8) {
        __m256 r[8];
        for (int j = 0; j < 8; j++) r[j] = narrow(x->t + (k + j) * CL + 8 * g);
        t8(r);
        for (int j = 0; j < 8; j++) st8(p + b[8 * g + j] + k0 + k, r[j], nt);
    }
}
AI void put_pair_t8(int nv, float *p, const long *b, long k0, const tile *re, const tile *im, int nt) {
    for (int g = 0; g < nv; g++) for (long k = 0; k < CK; k += 8) {
        __m256 r[8], i[8];
        for (int j = 0; j < 8; j++) {
            r[j] = narrow(re->t + (k + j) * CL + 8 * g);
            i[j] = narrow(im->t + (k + j) * CL + 8 * g);
        }
        t8(r);
        t8(i);
        for (int j = 0; j < 8; j++) join(r[j], i[j], p + b[8 * g + j] + 2 * (k0 + k), nt);
    }
}
/* rows adjacent, interleaved pairs: a site of the tile is one run of 2 * CL floats */
AI void get_pair_adj(int nv, const float *p, long b0, long sk, long k0, long kt, tile *re, tile *im) {
    for (long k = kt - 1; k >= 0; k--) {
        const float *q = p + b0 + (k0 + k) * sk;
        for (int g = 0; g < nv; g++) {
            __m256 r, i;
            split(_mm256_loadu_ps(q + 16 * g), _mm256_loadu_ps(q + 16 * g + 8), &r, &i);
            *(v8d *)(re->t + k * CL + 8 * g) = widen(r);
            *(v8d *)(im->t + k * CL + 8 * g) = widen(i);
        }
    }
}
AI void put_pair_adj(int nv, float *p, long b0, long sk, long k0, long kt, const tile *re, const tile *im, int nt) {
    for (long k = 0; k < kt; k++) {
        float *q = p + b0 + (k0 + k) * sk;
        int stream = nt && ((unsigned long)q & 31) == 0;
        for (int g = 0; g < nv; g++)
            join(narrow(re->t + k * CL + 8 * g), narrow(im->t + k * CL + 8 * g), q + 16 * g, stream);
    }
}
AI void put_real_adj(int nv, float *p, long b0, long sk, long k0, long kt, const tile *x, int nt) {
    for (long k = 0; k < kt; k++) {
        float *q = p + b0 + (k0 + k) * sk;
        int stream = nt && ((unsigned long)q & 31) == 0;
        for (int g = 0; g < nv; g++) st8(q + 8 * g, narrow(x->t + k * CL + 8 * g), stream);
    }
}
#else
#define HAVE_AVX2 0
#endif

/* ---- the copies a kernel calls: float32 takes a register path where the layout allows one ---- */
AI void get_real_f32(int nv, const float *p, const long *b, long sk, long k0, long kt, int kind, double off, tile *x,
                     int desc) {
#if HAVE_AVX2
    if (kind == SITES_ADJ && kt == CK) { get_real_t8(nv, p, b, k0, off, x, desc); return; }
#endif
    get_real_any_f32(nv, p, b, sk, k0, kt, kind, off, x, desc);
}
AI void get_pair_f32(int nv, const float *p, const long *b, lay L, long k0, long kt, int kind, tile *re, tile *im) {
#if HAVE_AVX2
    if (kind == SITES_ADJ && kt == CK) { get_pair_t8(nv, p, b, k0, re, im); return; }
    if (kind == ROWS_ADJ) { get_pair_adj(nv, p, b[0], L.sk, k0, kt, re, im); return; }
#endif
    get_pair_any_f32(nv, p, b, L.sk, L.sc, k0, kt, kind, re, im);
}
AI void put_real_f32(int nv, float *p, const long *b, long sk, long k0, long kt, int m, int kind, const tile *x,
                     int nt) {
#if HAVE_AVX2
    if (kind == SITES_ADJ && kt == CK) { put_real_t8(nv, p, b, k0, x, nt && aligned32(nv, p, b, k0)); return; }
    if (kind == ROWS_ADJ) { put_real_adj(nv, p, b[0], sk, k0, kt, x, nt); return; }
#endif
    (void)nt;
    put_real_any_f32(nv, p, b, sk, k0, kt, m, kind, x);
}
AI void put_pair_f32(int nv, float *p, const long *b, lay L, long k0, long kt, int m, int kind, const tile *re,
                     const tile *im, int nt) {
#if HAVE_AVX2
    if (kind == SITES_ADJ && kt == CK) { put_pair_t8(nv, p, b, k0, re, im, nt && aligned32(nv, p, b, 2 * k0)); return; }
    if (kind == ROWS_ADJ) { put_pair_adj(nv, p, b[0], L.sk, k0, kt, re, im, nt); return; }
#endif
    (void)nt;
    put_pair_any_f32(nv, p, b, L.sk, L.sc, k0, kt, m, kind, re, im);
}
AI void get_real_f64(int nv, const double *p, const long *b, long sk, long k0, long kt, int kind, double off,
                     tile *x, int desc) {
    get_real_any_f64(nv, p, b, sk, k0, kt, kind, off, x, desc);
}
AI void get_pair_f64(int nv, const double *p, const long *b, lay L, long k0, long kt, int kind, tile *re, tile *im) {
    get_pair_any_f64(nv, p, b, L.sk, L.sc, k0, kt, kind, re, im);
}
AI void put_real_f64(int nv, double *p, const long *b, long sk, long k0, long kt, int m, int kind, const tile *x,
                     int nt) {
    (void)nt;
    put_real_any_f64(nv, p, b, sk, k0, kt, m, kind, x);
}
AI void put_pair_f64(int nv, double *p, const long *b, lay L, long k0, long kt, int m, int kind, const tile *re,
                     const tile *im, int nt) {
    (void)nt;
    put_pair_any_f64(nv, p, b, L.sk, L.sc, k0, kt, m, kind, re, im);
}

/* ---- forward and backward of one block of CL rows ---- */
#define CAUSAL_KERNELS(T, SUF)                                                                              \
AI void cfwd_##SUF(int nv, const T *v, lay V, T *f, lay F, long R2, long n, double zr, double zi, double beta, \
                   long r0, int m, double *ck, int nt) {                                                    \
    long vb[MAXL], fb[MAXL];                                                                               \
    tile a, gr, gi;                                                                                        \
    v8d pr[4] = {{0}}, pi[4] = {{0}}, iv[4] = {{0}};                                                       \
    bases(nv, r0, m, R2, V, vb);                                                                           \
    bases(nv, r0, m, R2, F, fb);                                                                           \
    int vk = layout(nv, vb, m, V, 0), fk = layout(nv, fb, m, F, 1);                                        \
    for (long k0 = 0; k0 < n; k0 += CK) {                                                                  \
        long kt = k0 + CK < n ? CK : n - k0;                                                               \
        prefetch_tile(nv, v, sizeof(T), vb, V.sk, k0 + PF * CK, n, vk, 0);                                 \
        get_real_##SUF(nv, v, vb, V.sk, k0, kt, vk, -zr, &a, 0);                                           \
        tile_forward(nv, &a, kt, k0 == 0, zi, beta, pr, pi, iv, &gr, &gi, ck + (k0 / CK) * 2 * CL);        \
        put_pair_##SUF(nv, f, fb, F, k0, kt, m, fk, &gr, &gi, nt);                                         \
    }                                                                                                      \
}                                                                                                          \
AI void cbwd_##SUF(int nv, const T *gf, lay G, const T *v, lay V, T *o, lay O, long R2, long n, double zr,  \
                   double zi, double beta, long r0, int m, const double *ck, int nt) {                      \
    long gb[MAXL], vb[MAXL], ob[MAXL];                                                                     \
    tile a, gr, gi, wr, wi;                                                                                \
    v8d pr[4] = {{0}}, pi[4] = {{0}}, iv[4] = {{0}}, ur[4] = {{0}}, ui[4] = {{0}};                          \
    bases(nv, r0, m, R2, G, gb);                                                                           \
    bases(nv, r0, m, R2, V, vb);                                                                           \
    bases(nv, r0, m, R2, O, ob);                                                                           \
    int gk = layout(nv, gb, m, G, 1), vk = layout(nv, vb, m, V, 0), ok = layout(nv, ob, m, O, 0);          \
    for (long s = (n - 1) / CK; s >= 0; s--) {                                                             \
        long k0 = s * CK, kt = k0 + CK < n ? CK : n - k0;                                                  \
        prefetch_tile(nv, v, sizeof(T), vb, V.sk, k0 - PF * CK, n, vk, 0);                                 \
        prefetch_tile(nv, gf, sizeof(T), gb, G.sk, k0 - PF * CK, n, gk, 0);                                \
        get_real_##SUF(nv, v, vb, V.sk, k0, kt, vk, -zr, &a, 1);                                           \
        get_pair_##SUF(nv, gf, gb, G, k0, kt, gk, &wr, &wi);                                               \
        for (int c = 0; c < nv; c++) {                                                                     \
            __builtin_memcpy(&pr[c], ck + s * 2 * CL + 8 * c, 64);                                         \
            __builtin_memcpy(&pi[c], ck + s * 2 * CL + CL + 8 * c, 64);                                    \
        }                                                                                                  \
        tile_forward(nv, &a, kt, 2, zi, beta, pr, pi, iv, &gr, &gi, 0);                                    \
        tile_adjoint(nv, &gr, &gi, &wr, &wi, kt, beta, ur, ui, &a);                                        \
        put_real_##SUF(nv, o, ob, O.sk, k0, kt, m, ok, &a, nt);                                            \
    }                                                                                                      \
}
CAUSAL_KERNELS(float, f32)
CAUSAL_KERNELS(double, f64)

/* each lane count gets its own compiled copy of a block's kernel: nv is a constant inside */
#define DISPATCH(nv, CALL) do { if ((nv) == 4) { CALL(4); } else if ((nv) == 2) { CALL(2); } else { CALL(1); } } \
                           while (0)

/* rows = R1 * R2; lays: {s1, s2, sk, sc} in elements; ck: (blocks of CL rows, ceil(n / CK), 2, CL) float64,
   at most ceil(rows / 32) * 32 * ceil(n / CK) * 2 doubles. nv (1, 2 or 4) must be the same for a forward and
   its backward (it fixes the checkpoints' layout): the caller picks it (native._lanes) and keeps it. */
void bk_causal_forward(const void *v, const long *vl, void *f, const long *fl, int f32, long R1, long R2, long n,
                       double zr, double zi, double beta, double *ck, int nv, int threads) {
    long rows = R1 * R2, blocks = (rows + 8 * nv - 1) / (8 * nv), nck = (n + CK - 1) / CK;
    lay V = {vl[0], vl[1], vl[2], 0}, F = {fl[0], fl[1], fl[2], fl[3]};
    int nt = rows * n * 2 * (f32 ? 4 : 8) >= STREAM_MIN;
    #pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1 && rows * n >= (1L << 16))
    for (long b = 0; b < blocks; b++) {
        long r0 = b * 8 * nv;
        int m = rows - r0 < 8 * nv ? (int)(rows - r0) : 8 * nv;
        double *c = ck + b * nck * 2 * 8 * nv;
#define FWD(NV) if (f32) cfwd_f32(NV, (const float *)v, V, (float *)f, F, R2, n, zr, zi, beta, r0, m, c, nt); \
                else cfwd_f64(NV, (const double *)v, V, (double *)f, F, R2, n, zr, zi, beta, r0, m, c, nt)
        DISPATCH(nv, FWD);
#undef FWD
    }
#if HAVE_AVX2
    _mm_sfence();  /* streaming stores are weakly ordered: make them visible before returning */
#endif
}

void bk_causal_backward(const void *gf, const long *gl, const void *v, const long *vl, void *o, const long *ol,
                        int f32, long R1, long R2, long n, double zr, double zi, double beta, const double *ck,
                        int nv, int threads) {
    long rows = R1 * R2, blocks = (rows + 8 * nv - 1) / (8 * nv), nck = (n + CK - 1) / CK;
    lay G = {gl[0], gl[1], gl[2], gl[3]}, V = {vl[0], vl[1], vl[2], 0}, O = {ol[0], ol[1], ol[2], 0};
    int nt = rows * n * (f32 ? 4 : 8) >= STREAM_MIN;
    #pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1 && rows * n >= (1L << 16))
    for (long b = 0; b < blocks; b++) {
        long r0 = b * 8 * nv;
        int m = rows - r0 < 8 * nv ? (int)(rows - r0) : 8 * nv;
        const double *c = ck + b * nck * 2 * 8 * nv;
#define BWD(NV) if (f32) cbwd_f32(NV, (const float *)gf, G, (const float *)v, V, (float *)o, O, R2, n, zr, zi, \
                                  beta, r0, m, c, nt);                                                      \
                else cbwd_f64(NV, (const double *)gf, G, (const double *)v, V, (double *)o, O, R2, n, zr, zi, \
                              beta, r0, m, c, nt)
        DISPATCH(nv, BWD);
#undef BWD
    }
#if HAVE_AVX2
    _mm_sfence();
#endif
}
"""

_LIB: ctypes.CDLL | None = None
_TRIED = False


def _cpu_key() -> str:
    """A short hash of this CPU's instruction set: -march=native builds are cached per CPU kind.

    The flags (from the project's one cpuinfo reader, engine.systems.hardware.profile) decide
    which instructions a -march=native build may use, so a cached library is reused only on a
    CPU with the same architecture and the same flags; unreadable flags give one shared key."""
    text = platform.machine() + ":" + " ".join(sorted(cpu_flags()))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _build() -> ctypes.CDLL | None:
    base = ("-O3", "-fcx-limited-range")
    name = f"bk_native_{_cpu_key()}"
    dll = (build(_SOURCE, name, "bk", flags=(*base, "-march=native", "-fopenmp"))
           or build(_SOURCE, name, "bk", flags=(*base, "-fopenmp")) or build(_SOURCE, "bk_native", "bk", flags=base))
    if dll is None:
        return None
    i64, ptr, f64, i32 = ctypes.c_long, ctypes.c_void_p, ctypes.c_double, ctypes.c_int
    dll.bk_forward.argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, i32, i32]
    dll.bk_backward.argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i32, i32]
    dll.bk_fused_forward.argtypes = [ptr, i32, i64, i64, f64, f64, f64, i32, ptr, ptr, ptr, i32]
    dll.bk_fused_backward.argtypes = [ptr, ptr, i32, i64, i64, f64, f64, f64, i32, ptr, ptr, ptr, ptr, i32]
    dll.bk_causal_forward.argtypes = [ptr, ptr, ptr, ptr, i32, i64, i64, i64, f64, f64, f64, ptr, i32, i32]
    dll.bk_causal_backward.argtypes = [ptr, ptr, ptr, ptr, ptr, ptr, i32, i64, i64, i64, f64, f64, f64, ptr, i32, i32]
    dll.bk_team_size.argtypes, dll.bk_team_size.restype = [i32], i32
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
    lib.bk_forward(a.shape[0], n, a.data_ptr(), b.data_ptr(), d.data_ptr(), e.data_ptr(), g.data_ptr(), int(causal),
                   _threads())
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
    threads = _threads()
    tmp = torch.empty(threads * n, dtype=torch.complex128)  # one row of scratch per thread
    lib.bk_backward(rows[0].shape[0], n, *(t.data_ptr() for t in rows), b.data_ptr(), out.data_ptr(),
                    tmp.data_ptr(), int(causal), threads)
    return out.reshape(shape)


# ---- the interleaved kernel: real diagonal in, features out, conversions inside -----------------

def fused_usable(diag: Tensor, beta: object, precision: str) -> bool:
    """The interleaved kernel applies: CPU float32/float64 diagonal, a constant real beta, complex128 maths."""
    return (diag.device.type == "cpu" and diag.dtype in (torch.float32, torch.float64) and precision == "complex128"
            and isinstance(beta, (int, float)) and available())


def _threads() -> int:
    """torch's intra-op thread count: the runner's recorded setting (OMP_NUM_THREADS), 1 under torch_threads(1)."""
    return max(1, torch.get_num_threads())


def team_size(threads: int | None = None) -> int:
    """Threads the kernels' parallel regions really get for `threads` (default: `_threads()`); 1 without OpenMP.

    Work under 65,536 sites (rows x N) always runs on one thread: a region costs more than it saves there."""
    lib = _lib()
    return 1 if lib is None else int(lib.bk_team_size(_threads() if threads is None else int(threads)))


_LANES = 8  # rows per block in the C source


def _pivot_buffer(rows: int, n: int) -> Tensor:
    return torch.empty(-(-rows // _LANES) * n * 2 * _LANES, dtype=torch.float64)


_CK = 32  # checkpoint spacing of the causal kernel (CK in the C source)
_MAX_LANES = 32  # the causal kernel's widest block (MAXL in the C source)


def _lanes(rows: int, threads: int) -> int:
    """Vector chains per block of the causal kernel (a block is 8 * nv rows): the most that neither pads
    more than an eighth of the rows nor leaves threads without a block. The forward's choice is saved with
    its checkpoints, whose layout it fixes; the result is the same bits for any choice."""
    for nv in (4, 2):
        lanes = 8 * nv
        blocks = -(-rows // lanes)
        if blocks * lanes - rows <= rows // 8 and blocks >= min(threads, -(-rows // 8)):
            return nv
    return 1


def _as3(t: Tensor, extra: int = 0) -> Tensor:
    """`t` (..., N[, 2]) as an (R1, R2, N[, 2]) view (rows = R1 * R2); copies only if the leading dims won't merge."""
    lead = t.shape[: t.dim() - 1 - extra]
    tail = t.shape[t.dim() - 1 - extra:]
    r2 = lead[-1] if lead else 1
    try:
        return t.view(-1, r2, *tail)
    except RuntimeError:
        return t.reshape(-1, r2, *tail)


def _strides(t: Tensor) -> Tensor:
    """{s1, s2, sk, sc} element strides of an (R1, R2, N[, 2]) tensor, as a C long array."""
    st = list(t.stride()) + ([0] if t.dim() == 3 else [])
    return torch.tensor(st, dtype=torch.int64)


_HUGE_MIN = 4 * 2**20  # glibc hands big blocks back to the OS on free (mmap, heap trim): each call re-faults them
_POOL: list[mmap.mmap] = []  # big output maps, reused once no tensor refers to them (a caching allocator)
_POOL_MAX, _POOL_BYTES = 16, 2**30  # at most 16 maps and 1 GiB kept


def release_pool() -> None:
    """Forget the pooled output maps (each is unmapped with its last tensor): a memory measurement
    (engine.research.bk.peak_memory) then sees a step's outputs as the fresh pages they are."""
    _POOL.clear()


def _free_map(nbytes: int) -> mmap.mmap | None:
    for mm in _POOL:
        # references: _POOL's list, the loop variable, getrefcount's argument; any tensor built on it adds one
        if len(mm) == nbytes and sys.getrefcount(mm) <= 3:
            return mm
    return None


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """torch.empty, except that big outputs come from a small pool of anonymous maps (huge pages where offered).

    A fresh 64 MiB output costs 16k first-touch page faults every call (measured ~15 ns per site at
    N=32768 on the shared VM, more than the kernel itself): glibc returns such blocks to the OS on
    free. The pool keeps up to _POOL_MAX maps and hands one out again only when no tensor holds it.
    """
    numel = math.prod(shape)
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    if nbytes < _HUGE_MIN:
        return torch.empty(shape, dtype=dtype)
    mm = _free_map(nbytes)
    if mm is None:
        try:
            mm = mmap.mmap(-1, nbytes)
            if hasattr(mmap, "MADV_HUGEPAGE"):
                mm.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            return torch.empty(shape, dtype=dtype)
        _POOL.append(mm)
        while len(_POOL) > 1 and (len(_POOL) > _POOL_MAX or sum(len(m) for m in _POOL) > _POOL_BYTES):
            _POOL.pop(0)  # the oldest: freed with its last tensor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.frombuffer(mm, dtype=dtype, count=numel).view(shape)


def _like_rows(v3: Tensor, pair: bool) -> Tensor:
    """A fresh (R1, R2, N[, 2]) tensor laid out like v3: channel-last when v3 is, so the mixer never copies."""
    r1, r2, n = v3.shape
    if r2 > 1 and n > 1 and v3.stride(1) == 1 and v3.stride(2) == r2:
        buf = _empty((r1, n, r2, 2) if pair else (r1, n, r2), v3.dtype)
        return buf.permute(0, 2, 1, 3) if pair else buf.permute(0, 2, 1)
    return _empty((r1, r2, n, 2) if pair else (r1, r2, n), v3.dtype)


def _causal_forward(lib: ctypes.CDLL, diag: Tensor, beta: float, z: complex) -> tuple[Tensor, tuple[Tensor, ...]]:
    n = diag.shape[-1]
    v3 = _as3(diag)
    if v3.stride(2) != 1 and not (v3.stride(1) == 1 and v3.stride(2) == v3.shape[1]):
        v3 = v3.contiguous()  # neither row-major nor channel-last: one copy
    r1, r2, _ = v3.shape
    f3 = _like_rows(v3, pair=True)
    threads = _threads()
    nv = _lanes(r1 * r2, threads)
    ck = torch.empty(-(-(r1 * r2) // _MAX_LANES) * _MAX_LANES * -(-n // _CK) * 2, dtype=torch.float64)
    vl, fl = _strides(v3), _strides(f3)
    lib.bk_causal_forward(v3.data_ptr(), vl.data_ptr(), f3.data_ptr(), fl.data_ptr(), int(v3.dtype == torch.float32),
                          r1, r2, n, z.real, z.imag, float(beta), ck.data_ptr(), nv, threads)
    feat = f3.view(*diag.shape, 2) if diag.dim() >= 2 else f3.reshape(*diag.shape, 2)
    return feat, (v3, ck, torch.tensor(nv))


def _causal_backward(lib: ctypes.CDLL, grad_feat: Tensor, saved: tuple[Tensor, ...], beta: float, z: complex,
                     shape: torch.Size) -> Tensor:
    v3, ck, nv = saved
    r1, r2, n = v3.shape
    g3 = _as3(grad_feat.to(v3.dtype), extra=1)
    o3 = _like_rows(v3, pair=False)
    gl, vl, ol = _strides(g3), _strides(v3), _strides(o3)
    lib.bk_causal_backward(g3.data_ptr(), gl.data_ptr(), v3.data_ptr(), vl.data_ptr(), o3.data_ptr(), ol.data_ptr(),
                           int(v3.dtype == torch.float32), r1, r2, n, z.real, z.imag, float(beta), ck.data_ptr(),
                           int(nv), _threads())
    return o3.view(shape) if len(shape) >= 2 else o3.reshape(shape)


def fused_forward(diag: Tensor, beta: float, z: complex, causal: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Features (..., N, 2) in diag's dtype and what the backward needs.

    causal: (v, checkpoints), the checkpointed strided kernel; full: (v, d, e), pivots block-interleaved.
    """
    lib = _lib()
    assert lib is not None
    if causal:
        return _causal_forward(lib, diag, beta, z)
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
    if causal:
        return _causal_backward(lib, grad_feat, saved, beta, z, shape)
    v, dd, ee = saved
    rows, n = v.shape
    g = grad_feat.to(v.dtype).reshape(rows, n, 2).contiguous()
    out = torch.empty(rows, n, dtype=v.dtype)
    ll = dd if causal else torch.empty_like(dd)
    lib.bk_fused_backward(g.data_ptr(), v.data_ptr(), int(v.dtype == torch.float32), rows, n, z.real, z.imag,
                          float(beta), int(causal), dd.data_ptr(), ee.data_ptr(), ll.data_ptr(), out.data_ptr(),
                          _threads())
    return out.reshape(shape)
