"""The torch twin of the Mini-GPT: the NumPy model of phase 17 (engine.lm.models.gpt) in torch.nn, nanoGPT-clear.

Same maths and the same parameter names, so a checkpoint moves between the twins
(engine.lm.models.twin, safetensors both ways, logits equal in float64):

    E                      token embedding (V, d), also the tied LM head
    block_i.ln1 / ln2      LayerNorm (weight, bias) or RMSNorm (weight)
    block_i.attn.W_q/k/v/o nn.Linear without bias (the NumPy twin stores W as x @ W, i.e. transposed)
    block_i.ffn.w1 / w2    nn.Linear with bias (GELU-tanh between them)
    ln_final

Forward: h = E[ids] (+ positions); h = h + Attn(LN1(h)); h = h + FFN(LN2(h)); logits = LN_f(h) @ E^T.
Attention is torch's scaled_dot_product_attention with interleaved-pair RoPE on q and k.

The later phases' variants are switches of the one MiniGPTConfig, not new models:
  n_kv_heads  GQA/MQA: W_k, W_v project to n_kv_heads heads, shared by groups of query heads
  n_experts   MoE: every FFN becomes a router plus n_experts FFNs, top-k softmax gates (renormalised)
  kv_latent   MLA: K and V are re-expanded from one kv_latent-wide vector per token; the cache keeps the latent
  mixer       another token mixer in place of attention, by name (register_mixer; "bk" is the BK mixer)
Decoding: `model(ids, cache=model.new_cache(), start_pos=p)`; the cache holds rotated K/V (or latents).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.lm.models.gpt import MiniGPTConfig

MixerFactory = Callable[[MiniGPTConfig], nn.Module]
MIXERS: dict[str, MixerFactory | str] = {"bk": "engine.research.bk.mixer:BKMixer"}  # name -> factory or "module:Class"


def register_mixer(name: str, factory: MixerFactory) -> None:
    """Make `MiniGPTConfig(mixer=name)` build `factory(cfg)` in place of attention (called as mixer(x))."""
    MIXERS[name] = factory


def _mixer(cfg: MiniGPTConfig) -> nn.Module:
    if cfg.mixer not in MIXERS:
        raise ValueError(f"unknown mixer {cfg.mixer!r}; registered: {sorted(MIXERS)}")
    made = MIXERS[cfg.mixer]
    if isinstance(made, str):
        mod, cls = made.split(":")
        return getattr(importlib.import_module(mod), cls)(cfg.d_model)
    return made(cfg)


class KVCache:
    """Per layer, the keys and values (or MLA latents) of every position decoded so far."""

    def __init__(self, n_layers: int) -> None:
        self.k: list[Tensor | None] = [None] * n_layers
        self.v: list[Tensor | None] = [None] * n_layers

    def append(self, layer: int, k: Tensor, v: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Add this step's rows along the sequence axis (-2) and return everything cached for `layer`."""
        old_k, old_v = self.k[layer], self.v[layer]
        self.k[layer] = k if old_k is None else torch.cat([old_k, k], dim=-2)
        if v is not None:
            self.v[layer] = v if old_v is None else torch.cat([old_v, v], dim=-2)
        return self.k[layer], self.v[layer]  # type: ignore[return-value]

    def __len__(self) -> int:
        return 0 if self.k[0] is None else int(self.k[0].shape[-2])

    def values_per_token(self) -> int:
        """Numbers stored per token over all layers (the quantity GQA and MLA shrink)."""
        n = 0
        for k, v in zip(self.k, self.v, strict=True):
            for t in (k, v):
                if t is not None:
                    n += t.shape[-1] * (t.shape[1] if t.dim() == 4 else 1)
        return n


def rope_tables(t: int, d_head: int, base: float, offset: int, dtype: torch.dtype,
                device: torch.device) -> tuple[Tensor, Tensor]:
    """cos, sin of p * base^(-2k/d_head) for p = offset..offset+t-1 (computed in float64, as the NumPy twin)."""
    freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    angles = torch.arange(offset, offset + t, dtype=torch.float64)[:, None] * freq
    return angles.cos().to(dtype=dtype, device=device), angles.sin().to(dtype=dtype, device=device)


def rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the interleaved (even, odd) pairs of the last axis by their position's angle."""
    e, o = x[..., 0::2], x[..., 1::2]
    return torch.stack([e * cos - o * sin, e * sin + o * cos], dim=-1).flatten(-2)


def sinusoidal_table(n: int, d: int) -> Tensor:
    """sin in even columns, cos in odd ones (engine.lm.models.positional.sinusoidal_pe), float64."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    omega = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * omega), torch.cos(pos * omega)
    return pe


def _norm(cfg: MiniGPTConfig) -> nn.Module:
    return nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps) if cfg.norm == "layer" else nn.RMSNorm(cfg.d_model, eps=cfg.ln_eps)


class Attention(nn.Module):
    """Causal multi-head attention; GQA when kv_heads < n_heads, MLA when kv_latent > 0."""

    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, kv_width = cfg.d_model, cfg.kv_heads * cfg.d_head
        self.W_q = nn.Linear(d, d, bias=cfg.attn_bias)
        if cfg.kv_latent:
            self.W_dkv = nn.Linear(d, cfg.kv_latent, bias=False)  # down: the cached latent
            self.W_uk = nn.Linear(cfg.kv_latent, kv_width, bias=False)  # up: keys and values from it
            self.W_uv = nn.Linear(cfg.kv_latent, kv_width, bias=False)
        else:
            self.W_k = nn.Linear(d, kv_width, bias=cfg.attn_bias)
            self.W_v = nn.Linear(d, kv_width, bias=cfg.attn_bias)
        self.W_o = nn.Linear(d, d, bias=cfg.attn_bias)

    def _heads(self, t: Tensor, n: int) -> Tensor:
        b, s, _ = t.shape
        return t.view(b, s, n, self.cfg.d_head).transpose(1, 2)  # (B, heads, S, d_head)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0, start_pos: int = 0) -> Tensor:
        cfg = self.cfg
        b, t, d = x.shape
        q = self._heads(self.W_q(x), cfg.n_heads)
        if cfg.kv_latent:  # cache the latent; K/V of every cached position are re-expanded from it
            c = self.W_dkv(x)
            if cache is not None:
                c = cache.append(layer, c)[0]
            k, v = self._heads(self.W_uk(c), cfg.kv_heads), self._heads(self.W_uv(c), cfg.kv_heads)
            k_offset = start_pos - (c.shape[1] - t)
        else:
            k, v = self._heads(self.W_k(x), cfg.kv_heads), self._heads(self.W_v(x), cfg.kv_heads)
            k_offset = start_pos
        if cfg.rope:
            cos, sin = rope_tables(t, cfg.d_head, cfg.rope_base, start_pos, q.dtype, q.device)
            q = rope(q, cos, sin)
            kc, ks = rope_tables(k.shape[2], cfg.d_head, cfg.rope_base, k_offset, k.dtype, k.device)
            k = rope(k, kc, ks)
        if cache is not None and not cfg.kv_latent:
            k, v = cache.append(layer, k, v)  # type: ignore[assignment]
        if cfg.kv_heads != cfg.n_heads:  # each group of query heads reads its shared K/V head
            k = k.repeat_interleave(cfg.n_heads // cfg.kv_heads, dim=1)
            v = v.repeat_interleave(cfg.n_heads // cfg.kv_heads, dim=1)
        s = k.shape[2]
        mask, is_causal = None, False
        if cfg.causal and t > 1:
            if s == t:
                is_causal = True
            else:  # a chunk after cached positions: query i sees keys 0 .. s - t + i
                mask = torch.ones(t, s, dtype=torch.bool, device=x.device).tril(diagonal=s - t)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        out: Tensor = self.W_o(y.transpose(1, 2).reshape(b, t, d))
        return out


class FFN(nn.Module):
    """w2 · GELU(w1 x + b1) + b2."""

    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.ffn_bias)
        self.w2 = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.ffn_bias)
        self.approximate = "tanh" if cfg.gelu == "tanh" else "none"

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.w2(F.gelu(self.w1(x), approximate=self.approximate))
        return out


class MoE(nn.Module):
    """Router + n_experts FFNs; each token keeps its top-k softmax probabilities, renormalised to sum to 1.

    As engine.lm.models.moe (the NumPy one), every expert runs on every token and the unchosen are
    weighted 0: same outputs and gradients as sparse dispatch, clearer code, more FLOPs.
    `last_load` is the share of routing slots each expert got (for the balance loss / monitoring).
    """

    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.top_k = cfg.moe_top_k
        self.router = nn.Linear(cfg.d_model, cfg.n_experts, bias=False)
        self.experts = nn.ModuleList(FFN(cfg) for _ in range(cfg.n_experts))
        self.last_load: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        probs = self.router(x).softmax(-1)
        top, idx = probs.topk(self.top_k, dim=-1)
        gates = torch.zeros_like(probs).scatter(-1, idx, top / top.sum(-1, keepdim=True))
        outs = torch.stack([e(x) for e in self.experts], dim=-1)  # (..., d, E)
        self.last_load = torch.bincount(idx.flatten(), minlength=probs.shape[-1]).to(x.dtype) / idx.numel()
        return (outs * gates.unsqueeze(-2)).sum(-1)


class Block(nn.Module):
    """Pre-LN: h = h + Mix(LN1(h)); h = h + FFN(LN2(h))."""

    def __init__(self, cfg: MiniGPTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = _norm(cfg), _norm(cfg)
        self.attn = Attention(cfg) if cfg.mixer == "attention" else _mixer(cfg)
        self.ffn = MoE(cfg) if cfg.n_experts else FFN(cfg)
        self.custom_mixer = cfg.mixer != "attention"

    def forward(self, h: Tensor, cache: KVCache | None = None, layer: int = 0, start_pos: int = 0) -> Tensor:
        if self.custom_mixer:
            if cache is not None:
                raise NotImplementedError(f"mixer {type(self.attn).__name__} has no KV cache; decode without one")
            h = h + self.attn(self.ln1(h))
        else:
            h = h + self.attn(self.ln1(h), cache, layer, start_pos)
        out: Tensor = h + self.ffn(self.ln2(h))
        return out


class GPT(nn.Module):
    """Token embedding E, n_layers blocks, a final norm and the head (tied: h @ E^T)."""

    def __init__(self, cfg: MiniGPTConfig, seed: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        if seed is not None:
            torch.manual_seed(seed)
        self.E = nn.Parameter(torch.randn(cfg.vocab_size, cfg.d_model) * 0.02)
        self.P = nn.Parameter(torch.randn(cfg.context_len, cfg.d_model) * 0.02) if cfg.learned_pos else None
        self.register_buffer("pe", sinusoidal_table(cfg.context_len, cfg.d_model).float() if cfg.sinusoidal else None,
                             persistent=False)
        for i in range(cfg.n_layers):
            setattr(self, f"block_{i}", Block(cfg))
        self.ln_final = _norm(cfg)
        self.head = None if cfg.tie_head else nn.Linear(cfg.d_model, cfg.vocab_size, bias=cfg.head_bias)
        for name, p in self.named_parameters():  # GPT-2 init: N(0, 0.02) weights, zero biases, unit norms
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2 and name not in ("E", "P"):
                nn.init.normal_(p, 0.0, 0.02)

    @property
    def blocks(self) -> list[Block]:
        return [getattr(self, f"block_{i}") for i in range(self.cfg.n_layers)]

    def new_cache(self) -> KVCache:
        return KVCache(self.cfg.n_layers)

    def embed(self, ids: Tensor, start_pos: int = 0) -> Tensor:
        """Token vectors plus whatever positions the config adds (RoPE acts later, inside attention)."""
        t = ids.shape[-1]
        h = self.E[ids]
        if self.P is not None:
            h = h + self.P[start_pos:start_pos + t]
        if self.pe is not None:
            h = h + self.pe[start_pos:start_pos + t].to(h.dtype)
        return h

    def hidden(self, ids: Tensor, cache: KVCache | None = None, start_pos: int = 0) -> Tensor:
        """The final-normed hidden states (B, T, d): what the head reads, and what phase 29 pools."""
        t = ids.shape[-1]
        if t + start_pos > self.cfg.context_len:
            raise ValueError(f"sequence of {t + start_pos} tokens exceeds context_len {self.cfg.context_len}")
        h = self.embed(ids, start_pos)
        for i, block in enumerate(self.blocks):
            h = block(h, cache, i, start_pos)
        out: Tensor = self.ln_final(h)
        return out

    def forward(self, ids: Tensor, cache: KVCache | None = None, start_pos: int = 0) -> Tensor:
        """ids (B, T) int64 -> logits (B, T, V)."""
        h = self.hidden(ids, cache, start_pos)
        out: Tensor = h @ self.E.T if self.head is None else self.head(h)
        return out


def linear_names(model: nn.Module) -> list[str]:
    """Qualified names of every nn.Linear: the layers phase 26 quantizes and phase 28 wraps with LoRA."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
