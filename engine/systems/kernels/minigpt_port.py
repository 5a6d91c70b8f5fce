"""The phase-17 NumPy Mini-GPT (engine.lm.models.gpt) ported to torch, reading the NumPy weights.

Same maths, op for op: token embedding E, Pre-LN blocks (LayerNorm, multi-head attention with
interleaved-pair RoPE on q and k, additive -1e9 causal mask, softmax; GELU-tanh FFN), final
LayerNorm and the tied head h @ E^T. `softmax` and `layer_norm` are swappable, which is how the
Triton kernels go into the forward: pass engine.systems.kernels' versions (or leave torch's eager ones).
The port is a function of the NumPy model's arrays, so both always hold identical weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.lm.models.attention_ref import MASK_VALUE

Softmax = Callable[[Tensor], Tensor]  # over the last axis of a (rows, cols) tensor
LayerNormFn = Callable[[Tensor, Tensor, Tensor, float], Tensor]


def eager_softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=-1)


def eager_layer_norm(x: Tensor, w: Tensor, b: Tensor, eps: float) -> Tensor:
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def _rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    e, o = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = e * cos - o * sin
    out[..., 1::2] = e * sin + o * cos
    return out


class TorchMiniGPT:
    """forward(ids (B, T) int64) -> logits (B, T, V), on `device` in `dtype`."""

    def __init__(self, np_model: Any, dtype: torch.dtype = torch.float32, device: str = "cpu",
                 softmax: Softmax = eager_softmax, layer_norm: LayerNormFn = eager_layer_norm) -> None:
        cfg = np_model.cfg
        if cfg.norm != "layer":
            raise ValueError("the port covers the LayerNorm Mini-GPT (norm='layer')")
        self.cfg, self.softmax, self.layer_norm = cfg, softmax, layer_norm
        t = lambda a: torch.tensor(np.asarray(a.data if hasattr(a, "data") else a), dtype=dtype, device=device)  # noqa: E731
        self.E = t(np_model.E)
        self.blocks = []
        for blk in np_model.blocks:
            ffn = blk.ffn
            self.blocks.append({
                "ln1": (t(blk.ln1.weight), t(blk.ln1.bias)), "ln2": (t(blk.ln2.weight), t(blk.ln2.bias)),
                "W": [t(w) for w in (blk.attn.W_q, blk.attn.W_k, blk.attn.W_v, blk.attn.W_o)],
                "w1": t(ffn.w1), "b1": t(ffn.b1) if ffn.b1 is not None else None,
                "w2": t(ffn.w2), "b2": t(ffn.b2) if ffn.b2 is not None else None,
                "rope": blk.attn.rope,
            })
        self.ln_f = (t(np_model.ln_final.weight), t(np_model.ln_final.bias))
        self.dtype, self.device = dtype, device

    def _attention(self, x: Tensor, blk: dict[str, Any]) -> Tensor:
        b, n, d = x.shape
        h = self.cfg.n_heads
        q, k, v = ((x @ w).reshape(b, n, h, d // h).transpose(1, 2) for w in blk["W"][:3])
        if blk["rope"] is not None:
            cos, sin = (torch.tensor(a, dtype=self.dtype, device=self.device) for a in blk["rope"].tables(n))
            q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d // h))
        if self.cfg.causal:
            allowed = torch.ones(n, n, dtype=torch.bool, device=self.device).tril()
            scores = scores + torch.where(allowed, 0.0, MASK_VALUE).to(self.dtype)
        weights = self.softmax(scores.reshape(-1, n)).reshape(scores.shape)
        y = (weights @ v).transpose(1, 2).reshape(b, n, d)
        return y @ blk["W"][3]

    def _ln(self, x: Tensor, wb: tuple[Tensor, Tensor]) -> Tensor:
        return self.layer_norm(x, wb[0], wb[1], self.cfg.ln_eps)

    def __call__(self, ids: Tensor) -> Tensor:
        h = self.E[ids]
        for blk in self.blocks:
            h = h + self._attention(self._ln(h, blk["ln1"]), blk)
            f = F.linear(self._ln(h, blk["ln2"]), blk["w1"], blk["b1"])
            h = h + F.linear(F.gelu(f, approximate="tanh"), blk["w2"], blk["b2"])
        return self._ln(h, self.ln_f) @ self.E.T
