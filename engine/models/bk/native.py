"""An optional C kernel for BK-Core on CPU: the sequential O(N) recursions, one row at a time.

On a CPU the torch scan (scan.py) is bound by per-op overhead and memory traffic: at
B=8, N=2048 it is a few hundred whole-tensor ops. The recursions themselves are ~85
FLOPs per site, so a plain C loop does the whole forward+backward in well under a
millisecond. This module compiles that loop with the system C compiler on first use
(under ~/.cache/lynx-workbench, keyed by a hash of the source), loads it with ctypes and
runs it on the tensors' buffers. No compiler, a non-CPU tensor or complex64 precision:
`available()` is False or the caller keeps the scan, which computes the same thing.

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
"""

_LIB: ctypes.CDLL | None = None
_TRIED = False


def _build() -> ctypes.CDLL | None:
    dll = build(_SOURCE, "bk_native", "bk", flags=("-O2", "-fcx-limited-range"))
    if dll is None:
        return None
    i64, ptr = ctypes.c_long, ctypes.c_void_p
    dll.bk_forward.argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, ctypes.c_int]
    dll.bk_backward.argtypes = [i64, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ctypes.c_int]
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
