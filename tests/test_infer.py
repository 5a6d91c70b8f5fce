"""engine.lm.infer: samplers' properties and the KV cache (cached decoding equals full recompute)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.lm.infer.kv_cache import CacheFullError, KVCache, cache_bytes, max_context
from engine.lm.infer.sampling import (
    Greedy,
    Temperature,
    TopK,
    TopP,
    entropy_bits,
    generate,
    tempered,
    topk_mask,
    topp_probs,
)
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig


def test_truncation_rules() -> None:
    z = np.array([2.0, 1.9, 1.8, 1.7, 0.0])
    assert (topp_probs(z, 0.9) > 0).sum() == 4
    assert np.isclose(topp_probs(z, 0.9).sum(), 1.0)
    assert np.isfinite(topk_mask(np.array([3.0, 1.0, 1.0, 0.0]), 2)).sum() == 3  # ties with the k-th are kept
    assert (topp_probs(z, 1.0) > 0).sum() == 5
    w = np.array([4.2, 1.8, 1.5, 0.6, 0.3, -0.5, -1.2, -2.1, -3.4, -4.0])
    assert (topp_probs(w, 0.5) > 0).sum() == 1 and abs(topp_probs(w, 0.95).max() - 0.8438) < 1e-3


def test_limits_and_entropy() -> None:
    z = np.random.default_rng(0).normal(0, 2, 20)
    for s in range(50):
        assert TopK(1)(z, np.random.default_rng(s)) == Greedy()(z, np.random.default_rng(s))
        assert TopP(1.0)(z, np.random.default_rng(s)) == Temperature(1.0)(z, np.random.default_rng(s))
    assert Temperature(0.0)(z, np.random.default_rng(0)) == int(np.argmax(z))
    h = [entropy_bits(tempered(z, t)) for t in (0.1, 0.5, 1, 2, 10)]
    assert all(b >= a - 1e-12 for a, b in zip(h, h[1:], strict=False))


def test_cache_contract() -> None:
    c = KVCache.allocate(layers=2, heads=4, head_dim=16, max_seq=8, batch=1)
    assert c.bytes_allocated() == cache_bytes(2, 4, 16, 8, 1, 4) == 8192
    x = np.ones((1, 4, 5, 16), dtype=np.float32)
    c.append(0, x, x)
    assert c.read(0)[0].shape == (1, 4, 5, 16) and c.current_length(1) == 0
    with pytest.raises(CacheFullError):
        c.append(0, x, x)
    assert max_context(26 * 2**30, 32, 32, 128, 1, 2) == 53248


@pytest.mark.parametrize("off_by_one", [False, True])
def test_cached_generation_equals_recompute(off_by_one: bool) -> None:
    cfg = MiniGPTConfig(d_model=32, n_heads=4, n_layers=2, d_ff=64, vocab_size=20, context_len=40)
    model = MiniGPT(cfg, rng=np.random.default_rng(0))
    model.E.data[...] *= 10  # give the random model non-trivial logits
    cache = KVCache.allocate(layers=2, heads=4, head_dim=8, max_seq=41, off_by_one=off_by_one)
    prompt = [1, 5, 7, 3]
    a = generate(model, prompt, 30, seed=3, strategy=Temperature(1.0), cache=cache)
    b = generate(model, prompt, 30, seed=3, strategy=Temperature(1.0), cache=None)
    assert (a == b) is (not off_by_one)
    assert len(b) == 30
