"""MLA arithmetic against hand-worked values and a shape count of actual latent/KV tensors."""

from __future__ import annotations

import numpy as np

from engine.lm.models.mla import cache_bytes, mha_attention_params, mha_values_per_token, mla_values_per_token


def test_values_per_token_match_tensor_shapes() -> None:
    layers, heads, d_head, d_c, d_rope, T = 3, 4, 8, 6, 2, 5
    k = np.zeros((layers, heads, T, d_head))
    latent = np.zeros((layers, T, d_c + d_rope))
    assert mha_values_per_token(layers, heads, d_head) * T == 2 * k.size
    assert mla_values_per_token(layers, d_c, d_rope) * T == latent.size


def test_deepseek_numbers() -> None:
    mha, mla = mha_values_per_token(60, 128, 128), mla_values_per_token(60, 512, 64)
    assert mha // 60 == 32768 and mla // 60 == 576
    assert round(cache_bytes(mha, 131072) / 1e9, 1) == 515.4
    assert round(cache_bytes(mla, 131072) / 1e9, 2) == 9.06
    assert mha_attention_params(1, 64) == 4 * 64 * 64
