"""FlashAttention's two ideas on the CPU, in NumPy: the online softmax and the tiled forward.

online_softmax_attention: softmax(s) V over the last axis, one chunk of keys at a time,
    carrying a running max m, running sum l and unnormalised output O; when a chunk raises the
    max, old l and O are rescaled by alpha = exp(m_old - m_new). Exact up to rounding.
    `dtype` rounds the inputs and the per-chunk exponentials (fp32, fp16 or bf16, the last
    emulated by rounding the fp32 mantissa to 8 bits, since NumPy has no bfloat16);
    `state` picks the precision of m/l/O: "fp32" (what real kernels do) or "same" (pure dtype).
tiled_attention / naive_attention: the same attention, with a ByteCounter that records every
    element read from or written to "slow memory" (HBM). Naive materialises S and P (N x N);
    the tiled Flash-2 order (query tiles outer, key tiles inner) keeps tiles in "SRAM".
bytes_naive / bytes_flash / attention_flops: the course's symbolic byte and FLOP formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Rounder = Callable[[np.ndarray], np.ndarray]


def round_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to bfloat16 (nearest, ties to even); returned as float32."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    u = (u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))) & np.uint32(0xFFFF0000)
    return u.view(np.float32)


ROUNDERS: dict[str, Rounder] = {
    "fp32": lambda x: np.asarray(x, dtype=np.float32),
    "fp16": lambda x: np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32),
    "bf16": round_bf16,
}


def softmax_reference(s: np.ndarray, V: np.ndarray) -> np.ndarray:
    """softmax(s) V in float64, one shot: the oracle."""
    s64 = np.asarray(s, dtype=np.float64)
    p = np.exp(s64 - s64.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ np.asarray(V, dtype=np.float64)


def softmax_batched(s: np.ndarray, V: np.ndarray, dtype: str = "fp32") -> np.ndarray:
    """softmax(s) V in one shot with the exponentials rounded to `dtype` and fp32 sums."""
    r = ROUNDERS[dtype]
    s, V = r(s), r(V)
    p = r(np.exp(s - s.max(-1, keepdims=True)))
    return (p @ V) / p.sum(-1, keepdims=True)


def online_softmax_attention(s: np.ndarray, V: np.ndarray, chunk: int, dtype: str = "fp32",
                             state: str = "fp32") -> np.ndarray:
    """softmax(s) V for s (..., N), V (N, d), visiting keys `chunk` at a time."""
    r = ROUNDERS[dtype]
    acc = ROUNDERS["fp32"] if state == "fp32" else r
    s, V = r(s), r(V)
    m = np.full(s.shape[:-1] + (1,), -np.inf, dtype=np.float32)
    l = np.zeros_like(m)
    O = np.zeros(s.shape[:-1] + (V.shape[-1],), dtype=np.float32)
    for j in range(0, s.shape[-1], chunk):
        s_c, V_c = s[..., j : j + chunk], V[j : j + chunk]
        m_new = np.maximum(m, s_c.max(-1, keepdims=True))
        alpha = acc(np.exp(m - m_new))
        p = r(np.exp(s_c - m_new))
        l = acc(l * alpha + acc(p.sum(-1, keepdims=True)))
        O = acc(O * alpha + acc(p @ V_c))
        m = m_new
    return acc(O / l)


# ---------------------------------------------------------------------- byte counting
@dataclass
class ByteCounter:
    """Elements read from and written to slow memory; bytes = elements x dtype_bytes."""

    reads: int = 0
    writes: int = 0

    def read(self, a: np.ndarray) -> np.ndarray:
        self.reads += a.size
        return a

    def write(self, a: np.ndarray) -> np.ndarray:
        self.writes += a.size
        return a

    def bytes(self, dtype_bytes: int) -> int:
        return (self.reads + self.writes) * dtype_bytes


def naive_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, counter: ByteCounter | None = None,
                    causal: bool = False) -> np.ndarray:
    """softmax(Q K^T / sqrt(d)) V with S and P written to and read back from slow memory."""
    c = counter or ByteCounter()
    N, d = Q.shape
    S = c.write((c.read(Q) @ c.read(K).T) / math.sqrt(d))
    if causal:
        S = np.where(np.tril(np.ones((N, N), dtype=bool)), S, -np.inf)
    S = c.read(S)
    P = np.exp(S - S.max(-1, keepdims=True))
    P = c.write(P / P.sum(-1, keepdims=True))
    return c.write(c.read(P) @ c.read(V))


def tiled_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, b_r: int = 64, b_c: int = 64,
                    counter: ByteCounter | None = None, causal: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Flash-2 forward: per query tile, stream key/value tiles through the online softmax.
    Only Q, K, V tiles are read and O plus the log-sum-exp (N values) are written. Returns (O, lse)."""
    c = counter or ByteCounter()
    N, d = Q.shape
    scale = 1.0 / math.sqrt(d)
    O = np.empty_like(Q, dtype=np.float32)
    lse = np.empty(N, dtype=np.float32)
    for i in range(0, N, b_r):
        q = c.read(Q[i : i + b_r]).astype(np.float32)
        rows = np.arange(i, i + q.shape[0])[:, None]
        m = np.full((q.shape[0], 1), -np.inf, dtype=np.float32)
        l = np.zeros_like(m)
        o = np.zeros((q.shape[0], V.shape[1]), dtype=np.float32)
        for j in range(0, N, b_c):
            if causal and j > rows[-1, 0]:
                break
            k, v = c.read(K[j : j + b_c]), c.read(V[j : j + b_c])
            s = (q @ k.T) * scale  # lives in SRAM: never counted
            if causal:
                s = np.where(np.arange(j, j + k.shape[0])[None, :] <= rows, s, -np.inf)
            m_new = np.maximum(m, s.max(-1, keepdims=True))
            p = np.exp(s - m_new)
            alpha = np.exp(m - m_new)
            l = l * alpha + p.sum(-1, keepdims=True)
            o = o * alpha + p @ v
            m = m_new
        O[i : i + b_r] = c.write(o / l)
        lse[i : i + b_r] = c.write((m + np.log(l))[:, 0])
    return O, lse


def bytes_naive(n: int, d: int, dtype_bytes: int = 2) -> float:
    """The course's naive HBM traffic: (12Nd + 16N^2) bytes at fp32, scaled to dtype_bytes."""
    return (12 * n * d + 16 * n * n) * dtype_bytes / 4


def bytes_flash(n: int, d: int, b_r: int = 64, dtype_bytes: int = 2) -> float:
    """The course's tiled HBM traffic: 8Nd(1 + N/B_r) bytes at fp32, scaled to dtype_bytes."""
    return 8 * n * d * (1 + n / b_r) * dtype_bytes / 4


def attention_flops(n: int, d: int) -> float:
    """4N^2 d: two N x N x d matrix products, 2 FLOPs per multiply-add (softmax not counted)."""
    return 4.0 * n * n * d
