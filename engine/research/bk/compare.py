"""The arithmetic of a like-for-like comparison: a curve's fitted exponent, the crossover N of two
curves, and a Transformer with the same non-embedding parameter count as a given model.

bk-scaling reports each of these per sweep; they live here so the lab stays glue.
"""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from engine.lm.models.attention import TransformerLM


def loglog_slope(ns: list[int], ts: list[float]) -> float:
    """Log-log slope over the upper half of the sizes (the asymptotic exponent)."""
    if len(ns) < 2:
        return float("nan")
    k = max(2, len(ns) // 2)
    return float(np.polyfit(np.log(ns[-k:]), np.log(ts[-k:]), 1)[0])


def crossover_n(ns: list[int], bk: list[float], att: list[float]) -> float:
    """First N where the BK layer beats attention, log-log interpolated (ns[0] if it always does)."""
    r = [math.log(a / b) for a, b in zip(att, bk, strict=True)]
    if r[0] > 0:
        return float(ns[0])
    for i in range(1, len(ns)):
        if r[i] > 0:
            f = -r[i - 1] / (r[i] - r[i - 1])
            return float(math.exp(math.log(ns[i - 1]) + f * (math.log(ns[i]) - math.log(ns[i - 1]))))
    return float("inf")


def body_params(model: nn.Module) -> int:
    """Parameters outside the token/position embeddings and the LM head (what the mixers differ in)."""
    skip = ("tok.", "pos.", "head.")
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith(skip))


def matched_transformer(target: int, vocab: int, n: int, layers: int, heads: int) -> TransformerLM:
    """The Transformer width (a multiple of `heads`) whose non-embedding parameters are closest to `target`."""
    best = min(range(heads, 16 * heads * 8 + 1, heads),
               key=lambda w: abs(body_params(TransformerLM(vocab, 1, w, layers, heads, mlp_ratio=2)) - target))
    return TransformerLM(vocab, n, best, layers, heads, mlp_ratio=2)
