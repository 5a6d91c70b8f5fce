"""The n-gram perplexity baseline on the same token ids the Mini-GPT trains on (phase 14's role).

Phase 14's NGramLM, fitted per (n, alpha). Add-alpha smoothed n-gram: P(t | previous n-1 ids) = (count(ctx, t) + alpha) / (count(ctx) + alpha·V),
with the context left-padded by <bos>. It predicts exactly the targets the transformer's loss
covers (every token after <bos>, <eos> included), so the two perplexities are comparable.
`best_baseline` tries n = 1..7 and a few alphas and keeps the lowest validation perplexity: the
strongest baseline, which makes "the transformer beats it" a conservative claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product

from engine.lm.models.seq.ngram import NGramLM


def ngram_nll(train: Sequence[Sequence[int]], val: Sequence[Sequence[int]], n: int, vocab_size: int,
              alpha: float = 0.1, bos: int = 1) -> float:
    """Mean negative log-likelihood (nats per token) of `val` under an add-alpha n-gram fit on `train`."""
    return math.log(NGramLM(n, vocab_size, alpha, bos).fit(train).perplexity(val))


def best_baseline(train: Sequence[Sequence[int]], val: Sequence[Sequence[int]], vocab_size: int,
                  orders: Sequence[int] = (1, 2, 3, 4, 5, 6, 7), alphas: Sequence[float] = (0.001, 0.01, 0.1, 1.0),
                  bos: int = 1) -> dict[str, float]:
    """The lowest validation NLL over orders and alphas, with the winning n and alpha."""
    best = {"nll": math.inf, "n": 0.0, "alpha": 0.0}
    for n, a in product(orders, alphas):
        nll = ngram_nll(train, val, n, vocab_size, a, bos)
        if nll < best["nll"]:
            best = {"nll": nll, "n": float(n), "alpha": a}
    best["ppl"] = math.exp(best["nll"])
    return best
