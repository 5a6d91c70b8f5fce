"""Mini-GPT (phase 17) on engine's NumPy Tensor autograd: Pre-LN blocks, RoPE, GELU FFN, tied head.

API (phases 18-22 build on this):
    cfg = MiniGPTConfig(d_model=64, n_heads=4, n_layers=2, d_ff=256, vocab_size=64, context_len=32)
    model = MiniGPT(cfg, rng=np.random.default_rng(42))
    logits = model(ids)                      # ids (T,) or (B, T) ints -> Tensor (T, V) or (B, T, V), raw logits
    loss = cross_entropy(logits.reshape(-1, V), targets)    # then loss.backward(), AdamW over model.parameters()
    model(ids, pad_mask=keep)                # keep (B, T) bool: False marks padding keys
    model(ids, cache=kv, start_pos=p)        # incremental decode with engine.lm.infer.kv_cache.KVCache
    model.forward_with_layer_outputs(ids)    # logits plus {embed_out, block_i_out, final_ln_out, logits}
    inventory(model) / closed_form_params(cfg)   # parameter count per named tensor, and the formula

Forward: h = E[ids]; for each block h = h + MHA(LN1(h)); h = h + FFN(LN2(h)); logits = LN_f(h) @ E^T.
Attention is phase 15's MultiHeadAttention (engine.lm.models.attention_ref: Q, K, V projections without
biases, scores / sqrt(d_head), additive causal mask, softmax, weight V, output projection) with
phase 16's RoPE (engine.lm.models.positional, interleaved pairs, base 10000) on Q and K.
`causal=False` (config) is the phase-17 break: every position reads the whole sequence.
`norm="rms"` with `ffn_bias=False` is the theory-04 variant (gain-only norms, no biases).
Everything is float32 by default; pass dtype=np.float64 for gradchecks.

`MiniGPTConfig` is the one config of the model family: its torch twin (engine.lm.models.gpt_torch.GPT,
same parameter names, safetensors both ways in engine.lm.models.twin) reads the same class, and the
variants later phases need (GQA `n_kv_heads`, MoE `n_experts`, MLA `kv_latent`, another `mixer`)
are switches on it that only the torch twin builds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.lm.models.attention_ref import MASK_VALUE, MultiHeadAttention, attention, causal_mask
from engine.lm.models.positional import RoPE, sinusoidal_pe
from engine.scratch.autograd.tensor import Tensor, linear
from engine.scratch.nn import GELU, LayerNorm, Module, Parameter, RMSNorm, init


@dataclass(frozen=True)
class MiniGPTConfig:
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    vocab_size: int = 64
    context_len: int = 32
    norm: str = "layer"  # "layer" (γ and β) or "rms" (gain only)
    ffn_bias: bool = True
    rope: bool = True
    rope_base: float = 10000.0
    causal: bool = True
    ln_eps: float = 1e-5
    # --- positions besides RoPE (both twins): a fixed sinusoidal table or a learned one added to E[ids]
    sinusoidal: bool = False
    learned_pos: bool = False
    # --- variants (the torch twin, engine.lm.models.gpt_torch; the NumPy twin refuses them)
    n_kv_heads: int | None = None  # GQA: K/V heads shared by n_heads / n_kv_heads query heads; 1 = MQA
    n_experts: int = 0             # MoE: > 0 replaces every FFN by n_experts FFNs and a top-k router
    moe_top_k: int = 2
    kv_latent: int = 0             # MLA: > 0 caches one kv_latent-wide vector per token, K and V are read from it
    mixer: str = "attention"       # or a name given to engine.lm.models.gpt_torch.register_mixer (e.g. "bk")
    # --- shape knobs of the older research LM (models.attention.TransformerLM is this config)
    attn_bias: bool = False
    tie_head: bool = True
    head_bias: bool = False
    gelu: str = "tanh"             # "tanh" (the NumPy twin's) or "exact"

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "n_layers", "d_ff", "vocab_size", "context_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"MiniGPTConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2 and self.rope:
            raise ValueError("RoPE rotates pairs: d_head must be even")
        if self.norm not in ("layer", "rms"):
            raise ValueError(f"norm must be 'layer' or 'rms', got {self.norm!r}")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads={self.n_heads} is not divisible by n_kv_heads={self.n_kv_heads}")
        if self.n_experts and not 1 <= self.moe_top_k <= self.n_experts:
            raise ValueError(f"moe_top_k={self.moe_top_k} must lie in [1, n_experts={self.n_experts}]")
        if self.gelu not in ("tanh", "exact"):
            raise ValueError(f"gelu must be 'tanh' or 'exact', got {self.gelu!r}")
        if self.sinusoidal and self.d_model % 2:
            raise ValueError("the sinusoidal table needs an even d_model")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else int(self.n_kv_heads)

    @property
    def is_plain(self) -> bool:
        """True when the NumPy twin can hold this model (no torch-only variant switched on)."""
        return (self.kv_heads == self.n_heads and not self.n_experts and not self.kv_latent
                and self.mixer == "attention" and not self.attn_bias and self.tie_head and not self.head_bias
                and self.gelu == "tanh" and not self.learned_pos)

    # course spellings used by phases 18 and 26 (n_layer / n_head / max_seq_len / context_length)
    @property
    def n_layer(self) -> int:
        return self.n_layers

    @property
    def n_head(self) -> int:
        return self.n_heads

    @property
    def context_length(self) -> int:
        return self.context_len

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    ALIASES = {"n_layer": "n_layers", "n_head": "n_heads", "max_seq_len": "context_len",
               "context_length": "context_len", "n_kv_head": "n_kv_heads"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MiniGPTConfig:
        """Build from a dict; the course's other spellings (n_layer, n_head, max_seq_len, ...) are accepted."""
        d = {cls.ALIASES.get(k, k): v for k, v in d.items()}
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


# ---------------------------------------------------------------------- sublayers
class FFN(Module):
    """W2 · GELU(W1 x + b1) + b2, Xavier-uniform weights (stored out x in), zero biases."""

    def __init__(self, d_model: int, d_ff: int, bias: bool = True, rng: np.random.Generator | None = None,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.w1 = Parameter(np.zeros((d_ff, d_model)), dtype=dtype)
        self.b1 = Parameter(np.zeros(d_ff), dtype=dtype) if bias else None
        self.w2 = Parameter(np.zeros((d_model, d_ff)), dtype=dtype)
        self.b2 = Parameter(np.zeros(d_model), dtype=dtype) if bias else None
        init.xavier_uniform_(self.w1, rng=rng)
        init.xavier_uniform_(self.w2, rng=rng)
        self.act = GELU()

    def forward(self, x: Tensor) -> Tensor:
        return linear(self.act(linear(x, self.w1, self.b1)), self.w2, self.b2)


class CausalSelfAttention(MultiHeadAttention):
    """Phase 15's multi-head attention (W_q, W_k, W_v, W_o, no biases) with phase 16's RoPE,
    a causal mask, an optional key-padding mask and an optional KV cache for decoding."""

    def __init__(self, cfg: MiniGPTConfig, rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        super().__init__(cfg.d_model, cfg.n_heads, rng=rng, dtype=dtype)
        self.causal = cfg.causal
        self.rope = RoPE(cfg.d_head, cfg.context_len, cfg.rope_base) if cfg.rope else None

    def forward(self, x: Tensor, pad_mask: np.ndarray | None = None, cache: Any = None, layer: int = 0,  # type: ignore[override]
                start_pos: int = 0) -> Tensor:
        q, k, v = (self.split_heads(x @ w) for w in (self.W_q, self.W_k, self.W_v))
        if self.rope is not None:
            q, k = self.rope(q, offset=start_pos), self.rope(k, offset=start_pos)
        keys, vals = k, v
        if cache is not None:
            cache.append(layer, k.data, v.data)
            if start_pos > 0:  # decode: attend over every cached row (prefill uses its fresh K/V)
                kc, vc = cache.read(layer)
                keys, vals = Tensor(kc), Tensor(vc)
        y, w = attention(q, keys, vals, self.mask(q.shape[-2], keys.shape[-2], pad_mask, x.dtype))
        self.last_weights = w.data
        return self.merge_heads(y) @ self.W_o

    def mask(self, t: int, s: int, pad_mask: np.ndarray | None, dtype: Any) -> np.ndarray | None:
        """Additive (B|1, 1, t, s) mask: causal (when the model is) plus key padding (1 = real token)."""
        mask = causal_mask(t, s, dtype=dtype) if self.causal else None
        if pad_mask is not None:
            pad = np.where(np.asarray(pad_mask, dtype=bool), 0.0, MASK_VALUE).astype(dtype)[:, None, None, :]
            mask = pad if mask is None else mask + pad
        return mask


class TransformerBlock(Module):
    """Pre-LN: h = h + MHA(LN1(h)); h = h + FFN(LN2(h)). The identity path is never scaled."""

    def __init__(self, cfg: MiniGPTConfig, rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        super().__init__()
        self.ln1 = _norm(cfg, dtype)
        self.attn = CausalSelfAttention(cfg, rng, dtype)
        self.ln2 = _norm(cfg, dtype)
        self.ffn = FFN(cfg.d_model, cfg.d_ff, cfg.ffn_bias, rng, dtype)

    def forward(self, h: Tensor, pad_mask: np.ndarray | None = None, cache: Any = None, layer: int = 0,
                start_pos: int = 0) -> Tensor:
        h = h + self.attn(self.ln1(h), pad_mask, cache, layer, start_pos)
        return h + self.ffn(self.ln2(h))


def _norm(cfg: MiniGPTConfig, dtype: Any) -> Module:
    return LayerNorm(cfg.d_model, cfg.ln_eps, dtype) if cfg.norm == "layer" else RMSNorm(cfg.d_model, cfg.ln_eps, dtype)


class MiniGPT(Module):
    """Token embedding E (the only V x d matrix), L blocks, a final norm and the tied head h @ E^T."""

    def __init__(self, cfg: MiniGPTConfig, rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        super().__init__()
        if not cfg.is_plain:
            raise ValueError("GQA/MoE/MLA/other mixers, untied or biased heads live in the torch twin "
                             "(engine.lm.models.gpt_torch.GPT); the NumPy Mini-GPT is the plain one")
        self.cfg = cfg
        self.pe = sinusoidal_pe(cfg.context_len, cfg.d_model).astype(dtype) if cfg.sinusoidal else None
        self.E = Parameter(np.zeros((cfg.vocab_size, cfg.d_model)), dtype=dtype)
        init.normal_(self.E, 0.02, rng)
        for i in range(cfg.n_layers):
            setattr(self, f"block_{i}", TransformerBlock(cfg, rng, dtype))
        self.ln_final = _norm(cfg, dtype)

    @property
    def blocks(self) -> list[TransformerBlock]:
        return [getattr(self, f"block_{i}") for i in range(self.cfg.n_layers)]

    def forward(self, ids: Any, pad_mask: np.ndarray | None = None, cache: Any = None, start_pos: int = 0) -> Tensor:
        return self.forward_with_layer_outputs(ids, pad_mask, cache, start_pos)[0]

    def forward_with_layer_outputs(self, ids: Any, pad_mask: np.ndarray | None = None, cache: Any = None,
                                   start_pos: int = 0) -> tuple[Tensor, dict[str, Tensor]]:
        ids = np.asarray(ids, dtype=np.int64)
        single = ids.ndim == 1
        ids2 = ids[None, :] if single else ids
        if ids2.shape[1] + start_pos > self.cfg.context_len:
            raise ValueError(f"sequence of {ids2.shape[1] + start_pos} tokens exceeds context_len {self.cfg.context_len}")
        if ids2.size and (ids2.min() < 0 or ids2.max() >= self.cfg.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.cfg.vocab_size})")
        outs: dict[str, Tensor] = {}
        h = self.E[ids2]
        if self.pe is not None:
            h = h + self.pe[start_pos:start_pos + ids2.shape[1]]
        outs["embed_out"] = h
        for i, block in enumerate(self.blocks):
            h = block(h, pad_mask, cache, i, start_pos)
            outs[f"block_{i}_out"] = h
        h = self.ln_final(h)
        outs["final_ln_out"] = h
        logits = h @ self.E.T
        outs["logits"] = logits
        if single:
            logits = logits.reshape(logits.shape[1:])
        return logits, outs


# ---------------------------------------------------------------------- parameter inventory
def inventory(model: MiniGPT) -> dict[str, int]:
    """Parameter count per named tensor (unique tensors only; buffers such as RoPE tables excluded)."""
    seen: set[int] = set()
    out: dict[str, int] = {}
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        out[name] = p.numel()
    return out


def closed_form_params(cfg: MiniGPTConfig) -> int:
    """V·d + L·(4d² + 2·d·d_ff [+ d_ff + d biases] + norms) + final norm, tied head."""
    d, f = cfg.d_model, cfg.d_ff
    norm = 2 * d if cfg.norm == "layer" else d
    per_block = 4 * d * d + 2 * d * f + (f + d if cfg.ffn_bias else 0) + 2 * norm
    return cfg.vocab_size * d + cfg.n_layers * per_block + norm


def component_counts(model: MiniGPT) -> dict[str, int]:
    """Group the inventory into embedding / attention / ffn / norms / final norm (the bar chart)."""
    groups = {"embedding": 0, "attention": 0, "ffn": 0, "block norms": 0, "final norm": 0}
    for name, n in inventory(model).items():
        if name == "E":
            groups["embedding"] += n
        elif ".attn." in name:
            groups["attention"] += n
        elif ".ffn." in name:
            groups["ffn"] += n
        elif name.startswith("ln_final"):
            groups["final norm"] += n
        else:
            groups["block norms"] += n
    return groups
