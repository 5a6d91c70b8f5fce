"""A small generated text for the BK language-model experiment, with a known entropy floor.

Each sentence is a time word, then a verb phrase in the tense the time word demands, then
a full stop: "yesterday he wrote .", "already you have seen .", "tomorrow I will go .".
The verb phrases come from the course's verb corpus (engine.text.verbs, §A13) when it is
importable, else from a tiny built-in table. Time word, person and verb are drawn
uniformly and everything else is determined, so the best possible next-token model has
perplexity exp(total sentence entropy / total tokens): a model that scores below that
floor on held-out text is reading the future.
"""

from __future__ import annotations

import math

import numpy as np

# time word -> tense index in engine.text.verbs.TENSES
TIME_WORDS = {"now": 1, "yesterday": 2, "already": 3, "tomorrow": 4}
_FALLBACK_VERBS = ("work", "walk", "play", "talk")


def _phrases() -> tuple[list[str], dict[tuple[str, int, int], str]]:
    try:
        from engine.text import verbs as V

        lemmas = list(V.VERBS)
        return lemmas, {(v, t, p): V.phrase(v, t, p) for v in lemmas for t in TIME_WORDS.values() for p in range(3)}
    except ImportError:  # the fallback keeps the experiment runnable without the verb module
        table = {1: ("{v}", "{v}", "{v}s"), 2: ("{v}ed",) * 3, 3: ("have {v}ed", "have {v}ed", "has {v}ed"),
                 4: ("will {v}",) * 3}
        pron = ("I", "you", "he")
        return list(_FALLBACK_VERBS), {(v, t, p): f"{pron[p]} {table[t][p].format(v=v)}"
                                       for v in _FALLBACK_VERBS for t in table for p in range(3)}


def generate(n_sentences: int, seed: int) -> tuple[list[str], float]:
    """Tokens (words) of n_sentences, and the entropy of the draws in nats."""
    lemmas, phrases = _phrases()
    rng = np.random.default_rng(seed)
    words = list(TIME_WORDS)
    tokens: list[str] = []
    for _ in range(n_sentences):
        w = words[rng.integers(len(words))]
        v = lemmas[rng.integers(len(lemmas))]
        p = int(rng.integers(3))
        tokens += [w, *phrases[(v, TIME_WORDS[w], p)].split(), "."]
    return tokens, n_sentences * math.log(len(words) * len(lemmas) * 3)


class Corpus:
    """Train and validation token ids over a shared vocabulary."""

    def __init__(self, n_train: int, n_val: int, seed: int) -> None:
        train, _ = generate(n_train, seed)
        val, val_entropy = generate(n_val, seed + 1)
        self.vocab = sorted(set(train) | set(val))
        index = {w: i for i, w in enumerate(self.vocab)}
        self.train = np.array([index[w] for w in train], dtype=np.int64)
        self.val = np.array([index[w] for w in val], dtype=np.int64)
        self.floor_ppl = math.exp(val_entropy / len(val))  # the best achievable causal perplexity

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)
