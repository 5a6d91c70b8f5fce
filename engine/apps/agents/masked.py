"""Planner decoding under the JSON-schema mask with a character vocabulary that has brackets.

A "model" here is any function from (token ids so far) to logits; the lab uses seeded random
logits, the least cooperative planner there is, so that validity is owed to the mask alone.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import numpy as np

from engine.apps.structured.mask import RegexMask
from engine.apps.structured.schema import STRING_CHARS

PIECES = ['{"tool":"', '","args":{', '{"corrected":', '"rationale":[', '"in_scope":', "null", "true", "false"]


class PlannerTokenizer:
    """Ids 0-1 are <pad> and <eos>; then single characters; then a few multi-character pieces."""

    def __init__(self) -> None:
        chars = sorted(set(STRING_CHARS) | set('{}[]":,') | set(string.ascii_lowercase))
        self.itos = ["<pad>", "<eos>", *chars, *PIECES]
        self.eos_id, self.vocab_size = 1, len(self.itos)

    def token_text(self, i: int) -> str | None:
        return self.itos[i] if i >= 2 else None


def decode_masked(logits_fn: Callable[[list[int]], np.ndarray], mask: RegexMask | None, tok: PlannerTokenizer,
                  max_tokens: int, temperature: float, rng: np.random.Generator) -> tuple[str, bool]:
    """Sample until <eos> or the mask reports the document closed; returns (text, stopped)."""
    ids: list[int] = []
    if mask is not None:
        mask.reset()
    last = None
    for _ in range(max_tokens):
        logits = logits_fn(ids).astype(np.float64)
        if mask is not None:
            logits = logits + mask.step(last)
        if temperature <= 0:
            nxt = int(np.argmax(logits))
        else:
            p = np.exp((logits - logits.max()) / temperature)
            nxt = int(rng.choice(len(p), p=p / p.sum()))
        if nxt == tok.eos_id:
            return "".join(tok.itos[i] for i in ids), True
        ids.append(nxt)
        last = nxt
        if mask is not None:
            mask.step(last)  # advance, then check whether the braces have closed
            last = None
            if mask.is_done():
                return "".join(tok.itos[i] for i in ids), True
    return "".join(tok.token_text(i) or "" for i in ids), False
