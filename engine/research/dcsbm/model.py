"""A tiny causal transformer whose attention internals can be read out.

torch's fused attention hides the score matrix, so attention here is written out:
S = Q K^T / sqrt(d_k) (causal entries masked), A = softmax(S), y = (A V) W_O^T. With
`internals=True` each layer hands back, per head, the scaled scores with masked entries set to
0 (the QK^T matrix the study decomposes), A, V, and the head's slice of W_O, so that AVW_O can
be formed exactly as the output projection sees it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CausalAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads, self.d_k = n_heads, d_model // n_heads
        self.q = nn.Linear(d_model, d_model, bias=False)
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, d_model, bias=False)
        self.o = nn.Linear(d_model, d_model, bias=False)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.n_heads, self.d_k).transpose(1, 2)          # (B, H, T, d_k)

    def forward(self, x: Tensor, internals: bool = False) -> tuple[Tensor, dict[str, Tensor] | None]:
        b, n, d = x.shape
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_k)                # (B, H, T, T)
        mask = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
        att = F.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        heads = att @ v
        y = self.o(heads.transpose(1, 2).reshape(b, n, d))
        if not internals:
            return y, None
        w_o = self.o.weight.view(d, self.n_heads, self.d_k).permute(1, 0, 2)  # (H, d, d_k): head slice
        info = {"qkt": scores.masked_fill(~mask, 0.0), "att": att, "v": v, "w_o": w_o,
                "avwo": heads @ w_o.transpose(-1, -2).unsqueeze(0)}         # (B, H, T, d)
        return y, info


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalAttention(d_model, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: Tensor, internals: bool = False) -> tuple[Tensor, dict[str, Tensor] | None]:
        a, info = self.attn(self.ln1(x), internals)
        x = x + a
        return x + self.mlp(self.ln2(x)), info


class WalkTransformer(nn.Module):
    """Next-vertex model over a context window of `n_ctx` vertices."""

    def __init__(self, vocab: int, n_ctx: int, d_model: int = 32, n_layers: int = 2, n_heads: int = 1) -> None:
        super().__init__()
        self.n_ctx = n_ctx
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, idx: Tensor, internals: bool = False) -> tuple[Tensor, list[dict[str, Any]]]:
        n = idx.shape[-1]
        x = self.tok(idx) + self.pos(torch.arange(n, device=idx.device))
        layers: list[dict[str, Any]] = []
        for block in self.blocks:
            x, info = block(x, internals)
            if info is not None:
                layers.append(info)
        return self.head(self.ln_f(x)), layers
