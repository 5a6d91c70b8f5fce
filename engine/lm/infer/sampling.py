"""Decoding strategies as pure functions of (logits, rng), and the decode loop (phase 21).

A strategy is a callable `(logits: np.ndarray (V,), rng: np.random.Generator) -> int`:
    Greedy()                  argmax (ties: the lowest id)
    Temperature(tau)          sample softmax(z / tau); tau <= 0 is treated as greedy (the limit)
    TopK(k, tau)              keep the k largest logits (all tokens tied with the k-th stay), -inf the rest
    TopP(p, tau)              sort, keep the smallest prefix whose mass reaches p, renormalise (float64)
`sample(model, prompt, max_tokens, seed, strategy)` runs the model on the whole prefix at every
step (no cache: phase 22 adds one) and returns only the generated suffix. Temperature divides
the logits before the softmax; softmax(z)**(1/tau) renormalised is a different operation, kept
here only as `post_softmax_power` so a test can show it disagrees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Strategy = Callable[[np.ndarray, np.random.Generator], int]


def softmax(z: np.ndarray) -> np.ndarray:
    """Stable softmax in float64 (max subtracted first)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    out: np.ndarray = e / e.sum()
    return out


def entropy_bits(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=np.float64)
    return float(-np.sum(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)))


def tempered(z: np.ndarray, tau: float) -> np.ndarray:
    """softmax(z / tau): the right way to apply a temperature."""
    return softmax(np.asarray(z, dtype=np.float64) / tau)


def post_softmax_power(z: np.ndarray, tau: float) -> np.ndarray:
    """softmax(z) ** (1/tau), renormalised: numerically fragile for small tau (underflow to 0/0)."""
    with np.errstate(divide="ignore", invalid="ignore", under="ignore", over="ignore"):
        q = softmax(z) ** (1.0 / tau)
        return q / q.sum()


def _draw(p: np.ndarray, rng: np.random.Generator) -> int:
    """Inverse-CDF draw with one uniform: the same rng state gives comparable draws across rules."""
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, rng.random() * c[-1], side="right"), len(p) - 1))


def topk_mask(z: np.ndarray, k: int) -> np.ndarray:
    """Logits with everything below the k-th largest set to -inf (ties with the k-th are kept)."""
    z = np.asarray(z, dtype=np.float64)
    k = max(1, min(int(k), z.size))
    kth = np.partition(z, z.size - k)[z.size - k]
    return np.where(z >= kth, z, -np.inf)


def topp_probs(z: np.ndarray, p: float, tau: float = 1.0) -> np.ndarray:
    """softmax(z/tau) truncated to the smallest top set whose mass reaches p, renormalised."""
    probs = tempered(z, tau)
    order = np.argsort(-probs, kind="stable")
    cum = np.cumsum(probs[order])
    cutoff = min(int(np.searchsorted(cum, p - 1e-12)) + 1, probs.size)
    keep = np.zeros_like(probs)
    keep[order[:cutoff]] = probs[order[:cutoff]]
    out: np.ndarray = keep / keep.sum()
    return out


@dataclass(frozen=True)
class Greedy:
    def __call__(self, logits: np.ndarray, rng: np.random.Generator) -> int:
        return int(np.argmax(logits))


class _Tempered:
    """A sampler defined by its `probs`; tau <= 0 means greedy."""

    tau: float

    def probs(self, logits: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, logits: np.ndarray, rng: np.random.Generator) -> int:
        if self.tau <= 0:
            return int(np.argmax(logits))
        return _draw(self.probs(logits), rng)


@dataclass(frozen=True)
class Temperature(_Tempered):
    tau: float = 1.0

    def probs(self, logits: np.ndarray) -> np.ndarray:
        return tempered(logits, self.tau)


@dataclass(frozen=True)
class TopK(_Tempered):
    k: int
    tau: float = 1.0

    def probs(self, logits: np.ndarray) -> np.ndarray:
        return tempered(topk_mask(logits, self.k), self.tau)


@dataclass(frozen=True)
class TopP(_Tempered):
    p: float
    tau: float = 1.0

    def probs(self, logits: np.ndarray) -> np.ndarray:
        return topp_probs(logits, self.p, self.tau)


def sample(model: Any, prompt: Sequence[int], max_tokens: int, seed: int, strategy: Strategy,
           eos_id: int | None = None) -> list[int]:
    """Decode without a cache: re-run the model on the whole prefix each step; return the suffix only."""
    from engine.scratch.autograd.tensor import no_grad

    if len(prompt) == 0:
        raise ValueError("the prompt must hold at least one token")
    rng = np.random.default_rng(seed)
    tokens = list(prompt)
    out: list[int] = []
    limit = model.cfg.context_len
    with no_grad():
        for _ in range(max_tokens):
            if len(tokens) >= limit:
                break
            logits = model(np.asarray(tokens, dtype=np.int64)).data[-1]
            nxt = strategy(logits, rng)
            out.append(nxt)
            tokens.append(nxt)
            if eos_id is not None and nxt == eos_id:
                break
    return out


def generate(model: Any, prompt: Sequence[int], max_new_tokens: int, seed: int, strategy: Strategy,
             cache: Any = None, eos_id: int | None = None) -> list[int]:
    """Decode with an optional KV cache: prefill the prompt once, then feed one token per step.

    Without a cache this is `sample` (full recompute). With one, the token list must be the same.
    """
    from engine.scratch.autograd.tensor import no_grad

    if cache is None:
        return sample(model, prompt, max_new_tokens, seed, strategy, eos_id)
    rng = np.random.default_rng(seed)
    cache.reset()
    out: list[int] = []
    pos = len(prompt)
    limit = model.cfg.context_len
    with no_grad():
        logits = model(np.asarray(prompt, dtype=np.int64), cache=cache, start_pos=0).data[-1]
        for _ in range(max_new_tokens):
            if pos >= limit:
                break
            nxt = strategy(logits, rng)
            out.append(nxt)
            if eos_id is not None and nxt == eos_id:
                break
            if len(out) == max_new_tokens or pos + 1 > limit:
                break
            logits = model(np.asarray([nxt], dtype=np.int64), cache=cache, start_pos=pos).data[-1]
            pos += 1
    return out


def sample_batch(model: Any, prompt: Sequence[int], n: int, max_tokens: int, seed: int, strategy: Strategy,
                 eos_id: int | None = None) -> list[list[int]]:
    """n independent completions of one prompt, decoded side by side (no cache).

    All rows share the prompt, so they stay the same length; each step runs the model once on
    the (n, t) batch and draws one token per row from one seeded Generator, row by row. A row's
    completion ends at its first EOS (what it produces after that is discarded).
    """
    from engine.scratch.autograd.tensor import no_grad

    rng = np.random.default_rng(seed)
    tokens = np.tile(np.asarray(prompt, dtype=np.int64), (n, 1))
    done = np.zeros(n, dtype=bool)
    outs: list[list[int]] = [[] for _ in range(n)]
    with no_grad():
        for _ in range(max_tokens):
            if tokens.shape[1] >= model.cfg.context_len or done.all():
                break
            last = model(tokens).data[:, -1]
            nxt = np.asarray([strategy(last[i], rng) for i in range(n)], dtype=np.int64)
            for i in range(n):
                if not done[i]:
                    outs[i].append(int(nxt[i]))
                    done[i] = eos_id is not None and nxt[i] == eos_id
            tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
    return outs
