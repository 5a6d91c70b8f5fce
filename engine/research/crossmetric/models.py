"""The two model families the cross-metric labs measure: an MLP and a tiny gated transformer.

`TinyTransformer` writes attention out by hand (no fused kernel) so that every head's output
passes through a multiplicative gate, the `head_gate` buffer of shape (n_layers, n_heads).
Setting a gate to 0 ablates that head; the gradient of the loss with respect to the gates is
the head-importance signal of Michel et al. (2019). Q, K, V and O are separate matrices so a
head's parameters are plain row/column slices (see `head_slices`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.research.crossmetric.views import AttentionProbe


class MLP(nn.Module):
    """Tanh MLP: smooth, so its Hessian is well defined everywhere (no ReLU kinks)."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=False))

    def forward(self, x: Tensor, return_hidden: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        hidden = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.tanh(x)
                hidden.append(x)
        return (x, hidden) if return_hidden else x


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int
    n_ctx: int = 16
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 64


class Block(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.d_head = cfg.n_heads, d // cfg.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v = nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False), nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.fc1, self.fc2 = nn.Linear(d, cfg.d_ff), nn.Linear(cfg.d_ff, d)
        self.pattern = AttentionProbe()  # identity: lets the metric scope hook the softmaxed pattern

    def attend(self, x: Tensor, gate: Tensor) -> tuple[Tensor, Tensor]:
        """Causal multi-head attention; returns the output and the attention weights (B, H, T, T)."""
        b, t, d = x.shape
        q, k, v = (m(x).view(b, t, self.n_heads, self.d_head).transpose(1, 2) for m in (self.q, self.k, self.v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = self.pattern(scores.masked_fill(~mask, float("-inf")).softmax(-1))
        heads = (att @ v) * gate.view(1, -1, 1, 1)  # a gate scales the whole head
        return self.o(heads.transpose(1, 2).reshape(b, t, d)), att

    def forward(self, x: Tensor, gate: Tensor) -> tuple[Tensor, Tensor]:
        a, att = self.attend(self.ln1(x), gate)
        x = x + a
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)))), att


class TinyTransformer(nn.Module):
    """Pre-norm decoder-only LM; forward returns logits, and optionally the residual stream and attention."""

    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.register_buffer("head_gate", torch.ones(cfg.n_layers, cfg.n_heads))

    def forward(self, idx: Tensor, trace: bool = False) -> Tensor | tuple[Tensor, list[Tensor], list[Tensor]]:
        t = idx.shape[-1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        stream, atts = [x], []
        for i, block in enumerate(self.blocks):
            x, att = block(x, self.head_gate[i])
            stream.append(x)
            atts.append(att)
        logits = self.head(self.ln_f(x))
        return (logits, stream, atts) if trace else logits


def head_slices(model: TinyTransformer) -> dict[tuple[int, int], list[tuple[str, tuple[slice, slice]]]]:
    """For each (layer, head): the parameter names and 2-D slices that belong to that head alone.

    Q/K/V weights are (d_out, d_in): the head owns rows h*d_head:(h+1)*d_head. The output
    projection O is (d_model, d_model) applied to the concatenated heads: the head owns columns.
    """
    cfg, out = model.cfg, {}
    dh = cfg.d_model // cfg.n_heads
    for layer in range(cfg.n_layers):
        for h in range(cfg.n_heads):
            rows, allc = slice(h * dh, (h + 1) * dh), slice(None)
            out[(layer, h)] = [(f"blocks.{layer}.{m}.weight", (rows, allc)) for m in ("q", "k", "v")]
            out[(layer, h)].append((f"blocks.{layer}.o.weight", (allc, rows)))
    return out
