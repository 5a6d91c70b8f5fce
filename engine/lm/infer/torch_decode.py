"""Autoregressive decoding of the torch twin, with or without its KV cache (phases 21-22 on the spine model).

Why both paths: the cache is an optimisation, so it must not change a single token. Without the
cache every step re-runs the whole prefix; with it the prompt is prefilled once and each step feeds
one token at position p. The strategies are phase 21's (engine.lm.infer.sampling: Greedy, Temperature,
TopK, TopP) applied to the last position's logits, one seeded NumPy generator per call, so the
same seed draws the same tokens on both paths.

    ids = generate(model, prompt_ids, max_new=20, strategy=Greedy(), seed=0, eos_id=EOS, use_cache=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from engine.lm.infer.sampling import Greedy


@torch.no_grad()
def generate(model: Any, prompt: Sequence[int], max_new: int, strategy: Any = None, seed: int = 0,
             eos_id: int | None = None, use_cache: bool = True) -> list[int]:
    """New token ids after `prompt` (stops after eos_id or at the context length)."""
    strategy = strategy or Greedy()
    rng = np.random.default_rng(seed)
    model.eval()
    ctx = model.cfg.context_len
    ids = list(prompt)
    out: list[int] = []
    cache = model.new_cache() if use_cache else None
    logits = model(torch.tensor([ids]), cache=cache)[0, -1]
    for _ in range(max_new):
        nxt = int(strategy(logits.double().numpy(), rng))
        out.append(nxt)
        ids.append(nxt)
        if (eos_id is not None and nxt == eos_id) or len(ids) >= ctx:
            break
        if cache is not None:
            logits = model(torch.tensor([[nxt]]), cache=cache, start_pos=len(ids) - 1)[0, -1]
        else:
            logits = model(torch.tensor([ids]))[0, -1]
    return out


@torch.no_grad()
def greedy_batch(model: Any, prompts: Sequence[Sequence[int]], max_new: int, eos_id: int) -> list[list[int]]:
    """Greedy continuations of many prompts, one cached decode each (small models: clarity over batching)."""
    return [generate(model, p, max_new, Greedy(), 0, eos_id, True) for p in prompts]
