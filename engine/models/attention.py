"""Softmax attention as the O(N^2) baseline for BK-Core, and a small Transformer LM.

`SelfAttention` is multi-head attention through torch's scaled_dot_product_attention
(whatever fused kernel torch picks on the device). `TransformerLM` mirrors ResNet-BK's
shape (embedding, pre-norm residual blocks, LM head) so the two can be trained side by
side at the same d_model and depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int = 4, causal: bool = True) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads, self.causal = n_heads, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (t.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        out: Tensor = self.proj(y.transpose(1, 2).reshape(b, n, d))
        return out


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        out: Tensor = x + self.mlp(self.ln2(x))
        return out


class TransformerLM(nn.Module):
    def __init__(self, vocab_size: int, n_seq: int, d_model: int = 64, n_layers: int = 4, n_heads: int = 4,
                 mlp_ratio: int = 2) -> None:
        super().__init__()
        self.n_seq = n_seq
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(n_seq, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, mlp_ratio) for _ in range(n_layers))
        self.norm_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, idx: Tensor) -> Tensor:
        n = idx.shape[-1]
        x = self.tok(idx) + self.pos(torch.arange(n, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits: Tensor = self.head(self.norm_f(x))
        return logits
