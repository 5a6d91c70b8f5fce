"""Decoding with an optional logit mask, in the course's order: mask, temperature, softmax, sample.

`generate` runs the model on a sliding window of its last `context_len` tokens (the phase-18
model has 32 positions; JSON outputs are longer), stops on the mask's done state, end of sequence
or max_new_tokens (`ignore_eos` bans end of sequence for fixed-length timing runs), and records per step the legal probability mass Z and the KL divergence of the
constrained distribution from the free one, KL = -log Z.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.apps.structured.mask import LogitMask, NoLegalContinuation
from engine.lm.infer.sampling import tempered
from engine.scratch.autograd.tensor import no_grad

# The per-step timings read this thread's CPU time, not the wall clock: a decoding step runs on one
# thread (the lab pins BLAS to one), so on an idle machine the two agree, and on a busy one the time
# this thread spends preempted by other processes does not land in whichever phase of the step it hit.
_clock = time.thread_time


@dataclass
class Generation:
    ids: list[int]
    text: str
    stopped: str  # "done" | "eos" | "max_tokens"
    kl: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=lambda: {"model": 0.0, "mask": 0.0, "sample": 0.0})


class TorchLM:
    """A torch causal LM (ids (B, T) -> logits (B, T, V)) as `generate` expects it: `next_logits`
    over the last `context_len` tokens, recomputed each step (the KV cache's equivalence with
    uncached decoding is phase 22's; here every step sees exactly the window the mask assumed)."""

    def __init__(self, model: Any, context_len: int) -> None:
        self.model, self.context_len = model.eval(), int(context_len)

    def next_logits(self, ids: list[int]) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.tensor([list(ids)[-self.context_len:]], dtype=torch.long)
            return self.model(x)[0, -1].double().numpy()


def next_logits(model: Any, ids: list[int]) -> np.ndarray:
    """Last-position logits; a torch model comes wrapped as a TorchLM."""
    if hasattr(model, "next_logits"):
        return np.asarray(model.next_logits(ids), dtype=np.float64)
    window = ids[-model.cfg.context_len:]
    with no_grad():
        return np.asarray(model(np.asarray(window)).data[-1], dtype=np.float64)


def generate(model: Any, tok: Any, prompt_ids: list[int], rng: np.random.Generator, *, mask: LogitMask | None = None,
             temperature: float = 1.0, max_new_tokens: int = 64, ignore_eos: bool = False) -> Generation:
    ids = list(prompt_ids)
    out: list[int] = []
    gen = Generation([], "", "max_tokens")
    last: int | None = None
    if mask is not None:
        mask.reset()
    for _ in range(max_new_tokens):
        t0 = _clock()
        z = next_logits(model, ids)
        t1 = _clock()
        if mask is not None:
            m = mask.step(last)
            if mask.is_done():
                gen.stopped = "done"
                gen.timings["mask"] += _clock() - t1
                break
            p_free = tempered(z, temperature if temperature > 0 else 1.0)  # greedy: KL of the model's own softmax
            legal = np.isfinite(m)
            if not legal.any():
                raise NoLegalContinuation("all tokens masked")
            gen.kl.append(float(-np.log(max(p_free[legal].sum(), 1e-300))))
            z = z + m
        elif ignore_eos:  # fixed-length timing runs: the free decoder must not stop early
            z = z.copy()
            z[tok.eos_id] = -np.inf
        t2 = _clock()
        p = tempered(z, temperature) if temperature > 0 else None
        nxt = int(np.argmax(z)) if p is None else int(min(np.searchsorted(np.cumsum(p), rng.random(), side="right"),
                                                          len(p) - 1))
        t3 = _clock()
        gen.timings["model"] += t1 - t0
        gen.timings["mask"] += t2 - t1
        gen.timings["sample"] += t3 - t2
        if nxt == tok.eos_id:
            gen.stopped = "eos"
            break
        out.append(nxt)
        ids.append(nxt)
        last = nxt
    gen.ids, gen.text = out, tok.decode(out)
    return gen
