"""The course's canonical MiniGPT in torch: 2 pre-norm blocks, d_model 64, d_ff 256, |V| 64, tied head.

Sinusoidal positions (no parameters), attention projections without bias, FFN with bias, five
LayerNorms. With these defaults it has exactly the course's 103,680 parameters:
8 x (64x64) attention + 2 x (256x64+256 + 64x256+64) FFN + 5 x 128 LayerNorm + 64x64 embedding.
The twelve Linears are the ones phase 26 quantizes and phase 28 wraps with LoRA; the embedding
(which is also the LM head) is never quantized below FP16.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class MiniGPTConfig:
    vocab_size: int = 64
    context_length: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    d_ff: int = 256


class Attention(nn.Module):
    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_head = cfg.n_head
        self.q_proj, self.k_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.v_proj, self.o_proj = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = (p(x).view(b, n, self.n_head, d // self.n_head).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out: Tensor = self.o_proj(y.transpose(1, 2).reshape(b, n, d))
        return out


class MLP(nn.Module):
    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(cfg.d_model, cfg.d_ff), nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.fc2(F.gelu(self.fc1(x)))
        return out


class Block(nn.Module):
    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn, self.mlp = Attention(cfg), MLP(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


def sinusoidal_positions(n: int, d: int) -> Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(n, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


class MiniGPT(nn.Module):
    def __init__(self, cfg: MiniGPTConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or MiniGPTConfig()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.register_buffer("pos", sinusoidal_positions(cfg.context_length, cfg.d_model), persistent=False)
        nn.init.normal_(self.tok.weight, std=0.02)

    def forward(self, idx: Tensor) -> Tensor:
        x = self.tok(idx) + self.pos[: idx.shape[-1]].to(self.tok.weight.dtype)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        return x @ self.tok.weight.t().to(x.dtype)  # tied LM head


def linear_names(model: nn.Module) -> list[str]:
    """Qualified names of every nn.Linear (the 12 quantization / LoRA targets)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
