"""What the scope needs to know about a transformer, and how it captures attention patterns.

`view_of(model)` returns a TransformerView for a model it recognises (this package's TinyTransformer,
the project's GPT / TransformerLM) or None (an MLP, any other module): metrics that need a
residual stream, heads or an unembedding then report themselves skipped instead of guessing.

Attention patterns are captured two ways during the scope's forward pass:
- modules of class `AttentionProbe` (an identity the model passes its softmaxed pattern through,
  as TinyTransformer does) are hooked;
- calls to `torch.nn.functional.scaled_dot_product_attention` are intercepted: the pattern
  softmax(q k^T * scale + mask) is computed explicitly and recorded, then the original call runs,
  so the model's outputs are unchanged. A model that computes attention some other way has no
  capturable pattern.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class AttentionProbe(nn.Identity):
    """Pass an attention pattern (B, H, T, T) through this so the scope can read it."""


@contextmanager
def capture_attention(model: nn.Module, store: list[Tensor]) -> Iterator[None]:
    hooks = [m.register_forward_hook(lambda _m, _i, out: store.append(out.detach()))
             for m in model.modules() if isinstance(m, AttentionProbe)]
    original = F.scaled_dot_product_attention

    def spy(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None, dropout_p: float = 0.0,
            is_causal: bool = False, scale: float | None = None, **kw: Any) -> Tensor:
        with torch.no_grad():
            s = (q @ k.transpose(-1, -2)) * (scale if scale is not None else 1 / math.sqrt(q.shape[-1]))
            if is_causal:
                s = s.masked_fill(~torch.ones(s.shape[-2:], dtype=torch.bool, device=s.device).tril(), float("-inf"))
            if attn_mask is not None:
                s = s.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else s + attn_mask
            store.append(s.softmax(-1).detach())
        return original(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale, **kw)

    F.scaled_dot_product_attention = spy  # type: ignore[assignment]
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original  # type: ignore[assignment]
        for h in hooks:
            h.remove()


@dataclass
class HeadWeights:
    """One layer's heads in the 'row vector times matrix' convention: q_h = x @ W_Q[h], out += z_h @ W_O[h]."""
    W_Q: Tensor  # (H, d, dh)
    W_K: Tensor
    W_V: Tensor
    W_O: Tensor  # (H, dh, d)


def _split(lin: nn.Linear, n_heads: int) -> Tensor:
    w = lin.weight.detach()                 # (H*dh, d): rows belong to heads
    return w.view(n_heads, -1, w.shape[1]).transpose(1, 2)   # (H, d, dh)


class TransformerView:
    """Residual blocks, final norm + unembedding, embeddings and per-head weights of a decoder LM."""

    def __init__(self, model: nn.Module, blocks: list[nn.Module], final: Callable[[Tensor], Tensor],
                 W_E: Tensor, W_U: Tensor, n_heads: int, n_ctx: int, attn: list[tuple[nn.Module, ...]] | None,
                 block_out: Callable[[Any], Tensor], replace_out: Callable[[Any, Tensor], Any],
                 attention_capturable: bool = True) -> None:
        self.model, self.blocks, self.final = model, blocks, final
        self.W_E, self.W_U = W_E, W_U            # (V, d), (d, V)
        self.n_heads, self.n_ctx, self._attn = n_heads, n_ctx, attn
        self.block_out, self.replace_out = block_out, replace_out
        self.attention_capturable = attention_capturable

    @property
    def vocab(self) -> int:
        return int(self.W_E.shape[0])

    def head_weights(self) -> list[HeadWeights] | None:
        if self._attn is None:
            return None
        out = []
        for q, k, v, o in self._attn:
            wo = o.weight.detach()                      # (d, H*dh): columns belong to heads
            out.append(HeadWeights(_split(q, self.n_heads), _split(k, self.n_heads), _split(v, self.n_heads),
                                   wo.T.reshape(self.n_heads, -1, wo.shape[0])))
        return out

    @contextmanager
    def residuals(self, store: list[Tensor]) -> Iterator[None]:
        """Record the residual stream after every block during forwards inside the context."""
        hooks = [b.register_forward_hook(lambda _m, _i, out: store.append(self.block_out(out)))
                 for b in self.blocks]
        try:
            yield
        finally:
            for h in hooks:
                h.remove()

    @contextmanager
    def patched(self, layer: int, fn: Callable[[Tensor], Tensor]) -> Iterator[None]:
        """Replace block `layer`'s output residual by fn(residual); layer -1 patches block 0's input."""
        if layer < 0:
            def pre(_m: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
                return (fn(args[0]), *args[1:])
            h = self.blocks[0].register_forward_pre_hook(pre)
        else:
            h = self.blocks[layer].register_forward_hook(
                lambda _m, _i, out: self.replace_out(out, fn(self.block_out(out))))
        try:
            yield
        finally:
            h.remove()


def _first(out: Any) -> Tensor:
    return out[0] if isinstance(out, tuple) else out


def _swap(out: Any, new: Tensor) -> Any:
    return (new, *out[1:]) if isinstance(out, tuple) else new


def view_of(model: nn.Module) -> TransformerView | None:
    from engine.research.crossmetric.models import TinyTransformer

    if isinstance(model, TinyTransformer):
        blocks = list(model.blocks)
        return TransformerView(model, blocks, lambda h: model.head(model.ln_f(h)), model.tok.weight.detach(),
                               model.head.weight.detach().T, model.cfg.n_heads, model.cfg.n_ctx,
                               [(b.q, b.k, b.v, b.o) for b in blocks], _first, _swap)
    try:
        from engine.lm.models.gpt_torch import GPT
    except ImportError:  # pragma: no cover - the project always has it
        return None
    if isinstance(model, GPT) and model.cfg.mixer == "attention":
        cfg = model.cfg
        emb = model.tok.weight if hasattr(model, "tok") else model.E
        unemb = model.head.weight.T if model.head is not None else emb.T

        def final(h: Tensor) -> Tensor:
            h = model.ln_final(h)
            return h @ model.E.T if model.head is None else model.head(h)

        plain = not cfg.kv_latent and cfg.kv_heads == cfg.n_heads and not cfg.rope
        attn = [(b.attn.W_q, b.attn.W_k, b.attn.W_v, b.attn.W_o) for b in model.blocks] if plain else None
        n_ctx = getattr(model, "n_seq", cfg.context_len)
        return TransformerView(model, list(model.blocks), final, emb.detach(), unemb.detach(), cfg.n_heads,
                               n_ctx, attn, _first, _swap)
    return None
