"""KV-cache and parameter arithmetic of multi-head attention (MHA) against multi-head latent attention (MLA).

Why: MLA exists to shrink the per-token cache. MHA caches K and V for every head of every layer
(2 x layers x heads x d_head values per token); MLA caches one latent of d_c values plus a small
decoupled RoPE key of d_rope values per layer, and re-expands K and V from the latent at attention time.
"""

from __future__ import annotations


def mha_values_per_token(layers: int, heads: int, d_head: int) -> int:
    """Values cached per token by standard attention: a key and a value per head per layer."""
    return 2 * layers * heads * d_head


def mla_values_per_token(layers: int, d_c: int, d_rope: int) -> int:
    """Values cached per token by latent attention: the shared latent and the positional key per layer."""
    return layers * (d_c + d_rope)


def cache_bytes(values_per_token: int, tokens: int, bytes_per_value: int = 2, batch: int = 1) -> int:
    return values_per_token * tokens * bytes_per_value * batch


def mha_attention_params(layers: int, d_model: int) -> int:
    """W_Q, W_K, W_V, W_O, each d_model x d_model, per layer (no biases)."""
    return 4 * layers * d_model * d_model


def mla_attention_params(layers: int, d_model: int, d_c: int, d_rope: int) -> int:
    """The course's approximation: W_DKV, W_UK, W_UV (about 3 d_c columns), W_KR (d_rope) and a full W_Q/W_O
    term d_model^2 per layer. It counts W_UK and W_UV as d_model x d_c, i.e. heads x d_head = d_model."""
    return layers * (d_model * (3 * d_c + d_rope) + d_model * d_model)
