"""The BK experiments' softmax-attention baseline, as a configuration of the one Mini-GPT (engine.lm.models.gpt_torch).

`TransformerLM(vocab, n_seq, d_model, n_layers, n_heads, mlp_ratio)` keeps the shape the BK-Core
research labs compare against (learned positions, attention and head with biases, exact GELU,
untied head, d_ff = mlp_ratio x d_model) and the names they read: `tok` and `pos` are nn.Embedding,
`head` the output Linear, so "non-embedding parameters" still means everything but tok., pos.
and head. The blocks are the torch twin's (torch's scaled_dot_product_attention).
`SelfAttention(d_model, n_heads, causal)` is that attention block alone, for layer timings.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT, Attention


def baseline_config(vocab_size: int, n_seq: int, d_model: int = 64, n_layers: int = 4, n_heads: int = 4,
                    mlp_ratio: int = 2, causal: bool = True) -> MiniGPTConfig:
    return MiniGPTConfig(vocab_size=vocab_size, context_len=n_seq, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                         d_ff=mlp_ratio * d_model, rope=False, learned_pos=True, attn_bias=True, tie_head=False,
                         head_bias=True, gelu="exact", causal=causal)


class SelfAttention(Attention):
    def __init__(self, d_model: int, n_heads: int = 4, causal: bool = True) -> None:
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        super().__init__(baseline_config(1, 1, d_model, 1, n_heads, causal=causal))


class TransformerLM(GPT):
    def __init__(self, vocab_size: int, n_seq: int, d_model: int = 64, n_layers: int = 4, n_heads: int = 4,
                 mlp_ratio: int = 2) -> None:
        super().__init__(baseline_config(vocab_size, n_seq, d_model, n_layers, n_heads, mlp_ratio))
        self.n_seq = n_seq
        del self.E, self.P  # the research code reads nn.Embedding modules named tok and pos
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(n_seq, d_model)

    def embed(self, ids: Tensor, start_pos: int = 0) -> Tensor:
        t = ids.shape[-1]
        out: Tensor = self.tok(ids) + self.pos(torch.arange(start_pos, start_pos + t, device=ids.device))
        return out
