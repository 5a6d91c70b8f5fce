"""Grouped-query attention (GQA) and multi-query attention (MQA) for the Mini-GPT (phase 27).

GQACausalSelfAttention keeps H query heads but only n_kv_heads key/value heads: W_k and W_v are
(d_model, n_kv_heads * d_head), and query head h reads KV head h // (H / n_kv_heads), i.e. the KV
heads are repeat-interleaved across their group. n_kv_heads = H is ordinary multi-head attention,
n_kv_heads = 1 is MQA. Only K and V shrink, so the KV cache shrinks by n_kv_heads / H.

from_mha converts a trained attention without retraining by mean-pooling the K and V projection
columns of the heads in each group (the GQA paper's checkpoint conversion); to_gqa does it for
every block of a MiniGPT. kv_bytes_per_token is the cache formula 2 x layers x kv_heads x d_head x bytes.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from engine.lm.models.attention_ref import attention
from engine.lm.models.gpt import CausalSelfAttention, MiniGPT
from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn.module import Parameter


def kv_bytes_per_token(n_layers: int, n_kv_heads: int, d_head: int, dtype_bytes: int) -> int:
    """K and V, per layer, per KV head: the bytes one token adds to the cache."""
    return 2 * n_layers * n_kv_heads * d_head * dtype_bytes


def pool_heads(W: np.ndarray, n_heads: int, n_kv_heads: int) -> np.ndarray:
    """(d, H*dh) projection -> (d, kv*dh): average the column blocks of the heads in each group."""
    d, hd = W.shape
    dh, group = hd // n_heads, n_heads // n_kv_heads
    return W.reshape(d, n_kv_heads, group, dh).mean(axis=2).reshape(d, n_kv_heads * dh)


class GQACausalSelfAttention(CausalSelfAttention):
    """CausalSelfAttention with n_kv_heads shared key/value heads (built from an existing one)."""

    n_kv_heads: int

    def forward(self, x: Tensor, pad_mask: np.ndarray | None = None, cache: Any = None, layer: int = 0,  # type: ignore[override]
                start_pos: int = 0) -> Tensor:
        if cache is not None:
            raise NotImplementedError("GQA attention here is for scoring; decode with a cache is phase 22's")
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        b, t, _ = x.shape
        q = self.split_heads(x @ self.W_q)
        k, v = ((x @ w).reshape(b, t, self.n_kv_heads, self.d_head).transpose((0, 2, 1, 3)) for w in (self.W_k, self.W_v))
        if self.rope is not None:
            q, k = self.rope(q, offset=start_pos), self.rope(k, offset=start_pos)
        self.last_kv = (k.data, v.data)  # what a cache would hold: (B, kv, T, d_head) each
        group = np.arange(self.n_heads) // (self.n_heads // self.n_kv_heads)
        k, v = k[:, group], v[:, group]
        y, w = attention(q, k, v, self.mask(t, t, pad_mask, x.dtype))
        self.last_weights = w.data
        return self.merge_heads(y) @ self.W_o


def from_mha(attn: CausalSelfAttention, n_kv_heads: int) -> GQACausalSelfAttention:
    """A GQA copy of `attn` whose K/V heads are group means of the original ones."""
    if attn.n_heads % n_kv_heads:
        raise ValueError(f"n_heads={attn.n_heads} is not divisible by n_kv_heads={n_kv_heads}")
    new = copy.deepcopy(attn)
    new.__class__ = GQACausalSelfAttention
    new.n_kv_heads = n_kv_heads
    for name in ("W_k", "W_v"):
        w = getattr(attn, name).data
        setattr(new, name, Parameter(pool_heads(w, attn.n_heads, n_kv_heads), dtype=w.dtype))
    return new


def to_gqa(model: MiniGPT, n_kv_heads: int) -> MiniGPT:
    """A copy of a MiniGPT whose every block uses GQA with n_kv_heads (no retraining)."""
    new = copy.deepcopy(model)
    for block in new.blocks:
        block.attn = from_mha(block.attn, n_kv_heads)
    return new
