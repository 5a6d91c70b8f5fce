"""Count-based n-gram language model with add-alpha smoothing (phase 14, lab 01).

P(w | ctx) = (c(ctx, w) + alpha) / (c(ctx) + alpha |V|), ctx the previous n - 1 tokens.
A sequence is scored as [bos]*(n-1) + tokens (the caller's sequences already carry one
<bos> and the final <eos>): every token after the padding is predicted, <eos> included,
and perplexity is exp of the mean negative log-likelihood per predicted token. An unseen
context gives the uniform 1/|V|.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence


class NGramLM:
    def __init__(self, n: int, vocab_size: int, alpha: float = 0.01, bos: int = 0) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n, self.vocab_size, self.alpha, self.bos = n, vocab_size, alpha, bos
        self.counts: dict[tuple[int, ...], Counter[int]] = defaultdict(Counter)
        self.context_totals: Counter[tuple[int, ...]] = Counter()

    def _padded(self, seq: Sequence[int]) -> list[int]:
        """Sequences start with one <bos>; pad to n - 1 of them (a unigram drops it)."""
        body = list(seq[1:]) if seq and seq[0] == self.bos else list(seq)
        return [self.bos] * (self.n - 1) + body

    def _events(self, seq: Sequence[int]) -> list[tuple[tuple[int, ...], int]]:
        s = self._padded(seq)
        return [(tuple(s[i - self.n + 1:i]), s[i]) for i in range(self.n - 1, len(s))]

    def fit(self, sequences: Sequence[Sequence[int]]) -> NGramLM:
        for seq in sequences:
            for ctx, tok in self._events(seq):
                self.counts[ctx][tok] += 1
                self.context_totals[ctx] += 1
        return self

    def logp_token(self, context: Sequence[int], token: int) -> float:
        ctx = tuple(context[len(context) - self.n + 1:]) if self.n > 1 else ()
        num = self.counts[ctx][token] + self.alpha if ctx in self.counts else self.alpha
        return math.log(num / (self.context_totals[ctx] + self.alpha * self.vocab_size))

    def logp_sequence(self, sequence: Sequence[int]) -> float:
        return sum(self.logp_token(ctx, tok) for ctx, tok in self._events(sequence))

    def perplexity(self, sequences: Sequence[Sequence[int]]) -> float:
        total, count = 0.0, 0
        for seq in sequences:
            total += self.logp_sequence(seq)
            count += len(self._events(seq))
        return math.exp(-total / count)

    def next_distribution(self, context: Sequence[int]) -> list[tuple[int, float]]:
        """(token, probability) for every token, most probable first (ties by id)."""
        ctx = self._padded(list(context))
        probs = [(t, math.exp(self.logp_token(ctx, t))) for t in range(self.vocab_size)]
        return sorted(probs, key=lambda tp: (-tp[1], tp[0]))

    def context_seen(self, context: Sequence[int]) -> bool:
        ctx = self._padded(list(context))
        return (tuple(ctx[len(ctx) - self.n + 1:]) if self.n > 1 else ()) in self.context_totals
