"""Iteration-level (continuous) batching driving the real Mini-GPT: each request owns a KV cache, the
loop admits waiting requests up to max_inflight (prefill), advances every in-flight request one greedy
token per iteration, and retires those that have their tokens.

Why: a scheduler that admits and retires mid-flight must not mix up sequences; the outputs must equal
decoding each request alone (engine.infer.sampling.generate), whatever the order of admission.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from engine.autograd.tensor import no_grad
from engine.infer.kv_cache import KVCache
from engine.models.gpt import MiniGPT


def continuous_decode(model: MiniGPT, prompts: Sequence[Sequence[int]], lengths: Sequence[int],
                      max_inflight: int) -> tuple[list[list[int]], int]:
    """Greedy tokens per request, and the number of decode iterations the loop ran."""
    cfg = model.cfg
    waiting = deque(range(len(prompts)))
    active: dict[int, tuple[KVCache, int]] = {}  # rid -> (cache, next position)
    logits: dict[int, np.ndarray] = {}
    out: list[list[int]] = [[] for _ in prompts]
    iterations = 0
    with no_grad():
        while waiting or active:
            while waiting and len(active) < max_inflight:
                rid = waiting.popleft()
                cache = KVCache.allocate(layers=cfg.n_layers, heads=cfg.n_heads, head_dim=cfg.d_head,
                                         max_seq=cfg.context_len)
                p = np.asarray(prompts[rid], dtype=np.int64)
                logits[rid] = model(p, cache=cache, start_pos=0).data[-1]
                active[rid] = (cache, len(p))
            iterations += 1
            for rid in list(active):
                cache, pos = active[rid]
                tok = int(np.argmax(logits[rid]))
                out[rid].append(tok)
                if len(out[rid]) >= lengths[rid]:
                    del active[rid]
                    continue
                logits[rid] = model(np.asarray([tok], dtype=np.int64), cache=cache, start_pos=pos).data[-1]
                active[rid] = (cache, pos + 1)
    return out, iterations
