"""Phase 22 probes: the cache-size formula and its inverse, the cache's append/read, cached generation.

The formula is compared on the course's model shapes and random ones (fractional bytes per
value included); the inverse must be the largest context that fits. The cache is driven
through uneven appends per layer, a reset and an overflow, and its reads compared with the
reference (rows, shapes, views). Generation with a cache must equal the reference's tokens and
the uncached decode, for several prompts (one token, near the context limit) and seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.infer.kv_cache import CacheFullError, KVCache
from engine.lm.infer.sampling import Greedy, Temperature, TopP
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from workbench.exercises.probes._compare import compare


def sizes(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    shapes: list[tuple[int | float, ...]] = [(2, 4, 16, 1, 1, 4), (32, 32, 128, 1, 1, 2), (80, 8, 128, 4096, 8, 2), (12, 12, 64, 1024, 1, 0.5)]
    shapes += [tuple(int(x) for x in rng.integers(1, 40, 5)) + (float(rng.choice([1, 2, 4])),) for _ in range(6)]
    for layers, heads, dh, seq, batch, b in shapes:
        what = f"L={layers}, H={heads}, d_head={dh}, S={seq}, B={batch}, {b} bytes"
        got = learner.cache_bytes(layers, heads, dh, seq, batch, b)
        out += compare("cache_bytes", what, got, reference.cache_bytes(layers, heads, dh, seq, batch, b))
        budget = float(rng.uniform(1e4, 1e9))
        ctx = learner.max_context(budget, layers, heads, dh, batch, b)
        out += compare("max_context", f"{what}, budget {budget:.0f} bytes", ctx,
                       reference.max_context(budget, layers, heads, dh, batch, b))
        exact = reference.cache_bytes(layers, heads, dh, 37, batch, b)
        out += compare(
            "max_context",
            f"{what}, a budget of exactly 37 tokens",
            learner.max_context(exact, layers, heads, dh, batch, b),
            37,
        )
    return out


def _drive(side: Any, rows: np.ndarray) -> tuple[list[Any], list[Any]]:
    """Append unevenly to three layers, read, reset, append again, overflow; return what was seen."""
    seen: list[Any] = []
    with side:
        c = KVCache.allocate(layers=3, heads=2, head_dim=4, max_seq=9, batch=2)
        c.append(0, rows[:, :, :4], -rows[:, :, :4])
        c.append(1, rows[:, :, :1], -rows[:, :, :1])
        c.append(0, rows[:, :, 4:5], -rows[:, :, 4:5])
        c.append(0, rows[:, :, 5:7], -rows[:, :, 5:7])
        for layer in range(3):
            k, v = c.read(layer)
            seen += [
                k.copy(),
                v.copy(),
                c.current_length(layer),
                bool(np.shares_memory(k, c.k[layer])) if k.size else True,
            ]
        try:
            c.append(0, rows[:, :, :3], rows[:, :, :3])
            seen.append("no error")
        except CacheFullError:
            seen.append("CacheFullError")
        c.reset()
        c.append(2, rows[:, :, 2:4], rows[:, :, 2:4])
        for layer in range(3):
            k, v = c.read(layer)
            seen += [k.copy(), v.copy(), c.current_length(layer)]
        seen.append(c.bytes_used())
    return seen, []


def cache(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    rows = rng.normal(size=(2, 2, 9, 4)).astype(np.float32)
    got, _ = _drive(learner, rows)
    want, _ = _drive(reference, rows)
    labels = []
    for layer in range(3):
        labels += [f"K rows of layer {layer}", f"V rows of layer {layer}", f"length of layer {layer}",
                   f"read of layer {layer} is a view of the buffer"]
    labels.append("overflow past max_seq")
    for layer in range(3):
        labels += [f"K rows of layer {layer} after reset", f"V rows of layer {layer} after reset",
                   f"length of layer {layer} after reset"]
    labels.append("bytes used")
    for label, g, w in zip(labels, got, want, strict=True):
        out += compare("KVCache.append", label, g, w)
    return out


def generation(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    cfg = MiniGPTConfig(d_model=16, n_heads=2, n_layers=2, d_ff=16, vocab_size=12, context_len=14)
    model = MiniGPT(cfg, rng=np.random.default_rng(int(rng.integers(1 << 30))))
    long_prompt = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 3, 5]  # one token short of the context
    cases = [
        ([1], Greedy(), 8, None),
        ([1], Temperature(1.0), 30, None),
        ([1, 4, 6], TopP(0.9), 30, "auto"),
        ([1, 4, 6], Temperature(1.0), 30, "auto"),
        (long_prompt, Greedy(), 30, None),
        (long_prompt, TopP(0.9), 8, None),
    ]
    for prompt, strategy, max_new, eos_rule in cases:
        seed = int(rng.integers(1 << 20))
        eos = None
        if eos_rule == "auto":  # a token the decode really produces, so stopping at EOS is exercised
            free = reference.generate(model, prompt, max_new, seed, strategy, None, None)
            eos = free[len(free) // 2]
        kv = KVCache.allocate(layers=2, heads=2, head_dim=8, max_seq=cfg.context_len + 1)
        got = learner.generate(model, prompt, max_new, seed, strategy, kv, eos)
        kv2 = KVCache.allocate(layers=2, heads=2, head_dim=8, max_seq=cfg.context_len + 1)
        want = reference.generate(model, prompt, max_new, seed, strategy, kv2, eos)
        what = f"prompt of {len(prompt)} tokens, {strategy}, {max_new} new tokens, eos {eos}"
        out += compare("generate", f"{what} (with a cache)", got, want)
        out += compare("generate", f"{what}: cached tokens equal the uncached decode", got,
                       reference.generate(model, prompt, max_new, seed, strategy, None, eos))
        again = learner.generate(model, prompt, max_new, seed, strategy, kv, eos)
        out += compare("generate", f"{what}: reusing the same cache object", again, want)
    return out
