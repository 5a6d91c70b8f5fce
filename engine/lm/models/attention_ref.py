"""Scaled dot-product and multi-head attention from scratch, on engine's Tensor autograd (phase 15).

API (what phases 16-22 import):
    causal_mask(T, T_k=None) -> (T, T_k) float32 additive mask: 0 where query i may see key j
        (j <= i + T_k - T, so a query block at the end of a longer key cache works), -1e9 elsewhere.
    attention(q, k, v, mask=None, *, scale=True, mask_mode="additive") -> (out, weights)
        q (..., T, d_k), k (..., T_k, d_k), v (..., T_k, d_v) as Tensors (arrays are lifted);
        out (..., T, d_v) and weights (..., T, T_k) are Tensors in the graph, so loss.backward()
        reaches q, k, v. `scale=False` drops 1/sqrt(d_k) (fault no_sqrt_dk); a float sets it;
        mask_mode="post_softmax" multiplies the weights by (mask >= 0) after the softmax
        (fault post_softmax_mask: rows no longer sum to one).
    single_head_attention(Q, K, V, mask=None) -> np.ndarray: the same maths, NumPy in and out.
    row_entropy(weights) -> entropy in nats of each attention row (log T for uniform attention).
    MultiHeadAttention(d_model, n_heads, seed=0, rng=None, scale=True, mask_mode="additive")
        Module with W_q, W_k, W_v, W_o (d_model, d_model) Parameters used as x @ W, drawn
        N(0, 1)/sqrt(d_model), no biases. forward(x, mask=None, *, causal=False, rope=None,
        offset=0): x (T, d) or (B, T, d); `rope` is an engine.lm.models.positional.RoPE applied to
        q and k per head (never to v) at positions offset..offset+T-1. After a call,
        `last_weights` holds the attention weights (B?, H, T, T_k) as a NumPy array.
Masks are additive and go in before the softmax, with -1e9 rather than -inf so that a fully
masked row stays finite. The torch SDPA baseline for BK-Core lives in engine/lm/models/attention.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn.module import Module, Parameter

if TYPE_CHECKING:
    from engine.lm.models.positional import RoPE

MASK_VALUE = -1e9
MASK_MODES = ("additive", "post_softmax", "none")


def causal_mask(T: int, T_k: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """Additive causal mask: row i (a query) may see keys 0..i + (T_k - T); the rest get -1e9."""
    T_k = T if T_k is None else T_k
    allowed = np.tril(np.ones((T, T_k), dtype=bool), k=T_k - T)
    return np.where(allowed, 0.0, MASK_VALUE).astype(dtype)


def softmax_stable(s: np.ndarray, axis: int = -1) -> np.ndarray:
    """Subtract the row max, exponentiate, normalise: never overflows."""
    z = s - s.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def row_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each row of attention weights over the last axis; 0 for a one-hot row."""
    w = np.asarray(weights, dtype=np.float64)
    return -(w * np.log(np.clip(w, 1e-300, None))).sum(-1)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def attention(q: Any, k: Any, v: Any, mask: np.ndarray | None = None, *, scale: bool | float = True,
              mask_mode: str = "additive") -> tuple[Tensor, Tensor]:
    """softmax(q k^T * scale + mask) v over the last two axes; returns (output, weights)."""
    if mask_mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}")
    q, k, v = _as_tensor(q), _as_tensor(k), _as_tensor(v)
    d_k = q.shape[-1]
    factor = (1.0 / math.sqrt(d_k)) if scale is True else (1.0 if scale is False else float(scale))
    scores = (q @ k.swapaxes(-1, -2)) * factor
    if mask is not None and mask_mode == "additive":
        scores = scores + np.asarray(mask, dtype=scores.dtype)
    weights = scores.softmax(axis=-1)
    if mask is not None and mask_mode == "post_softmax":
        weights = weights * (np.asarray(mask) >= 0).astype(weights.dtype)
    return weights @ v, weights


def single_head_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray | None = None,
                          scale: bool | float = True) -> np.ndarray:
    """The course's locked NumPy form: scores, additive mask, stable softmax, weighted values."""
    out, _ = attention(np.asarray(Q), np.asarray(K), np.asarray(V), mask, scale=scale)
    return out.data


class MultiHeadAttention(Module):
    """H heads of size d_model/H, each attending independently, mixed back by W_o (4 d^2 parameters)."""

    def __init__(self, d_model: int, n_heads: int, seed: int = 0, *, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32, scale: bool | float = True, mask_mode: str = "additive") -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.scale, self.mask_mode = scale, mask_mode
        rng = rng if rng is not None else np.random.default_rng(seed)
        std = 1.0 / math.sqrt(d_model)
        for name in ("W_q", "W_k", "W_v", "W_o"):
            setattr(self, name, Parameter(rng.standard_normal((d_model, d_model)) * std, dtype=dtype))
        self.last_weights: np.ndarray | None = None

    def split_heads(self, t: Tensor) -> Tensor:
        """(B, T, d) -> (B, H, T, d_head)."""
        b, n, _ = t.shape
        return t.reshape(b, n, self.n_heads, self.d_head).transpose((0, 2, 1, 3))

    def merge_heads(self, t: Tensor) -> Tensor:
        """(B, H, T, d_head) -> (B, T, d)."""
        b, _, n, _ = t.shape
        return t.transpose((0, 2, 1, 3)).reshape(b, n, self.d_model)

    def forward(self, x: Any, mask: np.ndarray | None = None, *, causal: bool = False,
                rope: RoPE | None = None, offset: int = 0) -> Tensor:
        x = _as_tensor(x)
        single = x.ndim == 2
        if single:
            x = x.reshape(1, *x.shape)
        q, k, v = (self.split_heads(x @ w) for w in (self.W_q, self.W_k, self.W_v))
        if rope is not None:
            q, k = rope(q, offset=offset), rope(k, offset=offset)
        if causal:
            cm = causal_mask(q.shape[-2], k.shape[-2])
            mask = cm if mask is None else np.asarray(mask) + cm
        y, w = attention(q, k, v, mask, scale=self.scale, mask_mode=self.mask_mode)
        self.last_weights = w.data[0] if single else w.data
        out = self.merge_heads(y) @ self.W_o
        return out.reshape(*out.shape[1:]) if single else out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, scale={self.scale}, mask_mode={self.mask_mode}"
