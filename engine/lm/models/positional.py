"""Positional information for attention: sinusoidal, learned table, RoPE, ALiBi slopes (phase 16).

API (what phases 17-22 import):
    sinusoidal_pe(T, d, base=10000.0, shuffle_seed=None) -> (T, d) float32: sin(p*w_k) in even
        columns, cos(p*w_k) in odd ones, w_k = base^(-2k/d). `shuffle_seed` permutes the rows
        (fault shuffled_pe: every position still unique, neighbours no longer alike).
    SinusoidalPositionalEncoding(max_len, d_model, shuffle_seed=None): Module, forward(x, offset=0)
        returns x + pe[offset:offset+T] (a constant, no parameters).
    LearnedPositionalEmbedding(max_len, d_model, std=0.02, rng=None): Module with a trained
        (max_len, d) table; positions past the table reuse its last row (the course's choice).
    rope_frequencies(d_head, base) -> (d_head/2,); precompute_rope(T, d_head, base) -> (cos, sin),
        each (T, d_head/2).
    rope_rotate(x, cos, sin) rotates each interleaved (even, odd) pair of the last axis of x
        (..., T, d_head) by its position's angle: even' = e cos - o sin, odd' = e sin + o cos.
        One graph node for a Tensor (backward rotates the gradient by the opposite angle);
        an ndarray in gives an ndarray out. apply_rope(q, k, cos, sin) rotates both.
    RoPE(d_head, max_len=2048, base=10000.0): callable, rope(x, offset=0) rotates x at positions
        offset..offset+T-1 (tables grow on demand). Rotate q and k, never v; no parameters.
    alibi_slopes(n_heads) -> (H,) the per-head slopes 1/2^(8h/H), h = 1..H.
Interleaved pairs, not the rotate-half split: both are valid RoPEs but give different numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn.module import Module, Parameter


# ---------------------------------------------------------------------- sinusoidal
def sinusoidal_pe(T: int, d: int, base: float = 10000.0, shuffle_seed: int | None = None,
                  offset: int = 0) -> np.ndarray:
    """(T, d) table for positions offset..offset+T-1, vectorised over positions and frequencies."""
    if d % 2:
        raise ValueError(f"sinusoidal_pe needs an even d, got {d}")
    pos = np.arange(offset, offset + T, dtype=np.float64)[:, None]
    omega = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    pe = np.empty((T, d), dtype=np.float64)
    pe[:, 0::2] = np.sin(pos * omega)
    pe[:, 1::2] = np.cos(pos * omega)
    if shuffle_seed is not None:
        pe = pe[np.random.default_rng(shuffle_seed).permutation(T)]
    return pe.astype(np.float32)


class SinusoidalPositionalEncoding(Module):
    """Adds the fixed sinusoidal table to token vectors; nothing to train."""

    def __init__(self, max_len: int, d_model: int, base: float = 10000.0, shuffle_seed: int | None = None) -> None:
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        self.pe = sinusoidal_pe(max_len, d_model, base, shuffle_seed)

    def forward(self, x: Any, offset: int = 0) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        T = x.shape[-2]
        if offset + T > self.max_len:
            raise ValueError(f"positions up to {offset + T - 1} but the table has {self.max_len} rows")
        return x + self.pe[offset:offset + T].astype(x.dtype)


class LearnedPositionalEmbedding(Module):
    """A trained (max_len, d) table added to the input; past max_len the last row is reused."""

    def __init__(self, max_len: int, d_model: int, std: float = 0.02, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.max_len = max_len
        rng = rng if rng is not None else np.random.default_rng()
        self.weight = Parameter(rng.standard_normal((max_len, d_model)) * std, dtype=dtype)

    def positions(self, T: int, offset: int = 0) -> np.ndarray:
        return np.minimum(np.arange(offset, offset + T), self.max_len - 1)

    def forward(self, x: Any, offset: int = 0) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        return x + self.weight[self.positions(x.shape[-2], offset)]


# ---------------------------------------------------------------------- RoPE
def rope_frequencies(d_head: int, base: float = 10000.0) -> np.ndarray:
    """theta_k = base^(-2k/d_head), k = 0..d_head/2-1."""
    if d_head % 2:
        raise ValueError(f"RoPE needs an even d_head, got {d_head}")
    return base ** (-np.arange(0, d_head, 2, dtype=np.float64) / d_head)


def precompute_rope(T: int, d_head: int, base: float = 10000.0, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of p * theta_k for p = offset..offset+T-1: two (T, d_head/2) float64 tables."""
    angles = np.arange(offset, offset + T, dtype=np.float64)[:, None] * rope_frequencies(d_head, base)
    return np.cos(angles), np.sin(angles)


def _rotate(a: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    e, o = a[..., 0::2], a[..., 1::2]
    out = np.empty_like(a)
    out[..., 0::2] = e * cos - o * sin
    out[..., 1::2] = e * sin + o * cos
    return out


def rope_rotate(x: Any, cos: np.ndarray, sin: np.ndarray) -> Any:
    """Rotate interleaved pairs of the last axis; cos/sin are (T, d/2) for x's second-to-last axis T."""
    if not isinstance(x, Tensor):
        a = np.asarray(x)
        return _rotate(a, cos.astype(a.dtype), sin.astype(a.dtype))
    c, s = cos.astype(x.dtype), sin.astype(x.dtype)

    def bw(g: np.ndarray) -> None:
        x._accum(_rotate(g, c, -s))  # the transpose of a rotation is the rotation by minus the angle

    return x._make(_rotate(x.data, c, s), (x,), "rope", bw)


def apply_rope(q: Any, k: Any, cos: np.ndarray, sin: np.ndarray) -> tuple[Any, Any]:
    """The course's pair form: rotate queries and keys with the same tables."""
    return rope_rotate(q, cos, sin), rope_rotate(k, cos, sin)


class RoPE:
    """Rotary position embedding for one head size; `rope(x, offset)` rotates x (..., T, d_head)."""

    def __init__(self, d_head: int, max_len: int = 2048, base: float = 10000.0) -> None:
        self.d_head, self.base = d_head, base
        self.cos, self.sin = precompute_rope(max_len, d_head, base)

    def tables(self, T: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        if offset + T > len(self.cos):
            self.cos, self.sin = precompute_rope(2 * (offset + T), self.d_head, self.base)
        return self.cos[offset:offset + T], self.sin[offset:offset + T]

    def __call__(self, x: Any, offset: int = 0) -> Any:
        cos, sin = self.tables(x.shape[-2], offset)
        return rope_rotate(x, cos, sin)


def alibi_slopes(n_heads: int) -> np.ndarray:
    """ALiBi's fixed per-head penalty slopes m_h = 1 / 2^(8h/H) for h = 1..H."""
    h = np.arange(1, n_heads + 1, dtype=np.float64)
    return 1.0 / 2.0 ** (8.0 * h / n_heads)
