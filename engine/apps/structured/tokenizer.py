"""The phase-18 character vocabulary with JSON symbols and a few multi-character tokens in its unused slots.

Ids 0-29 are exactly engine.lm.train.data.CharTokenizer's (specials, space, a-z), so the trained
Mini-GPT's letter logits keep their meaning; ids 30-63 were never seen in training and now hold
JSON punctuation, digits and multi-character pieces such as '","tense":"'. The model still gives
them logits (its tied embedding rows), which is all a mask needs. Multi-character tokens make the
mask walk every character of a token through the automaton, as real BPE vocabularies require.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.lm.train.data import CHARS, EOS, SPECIALS

SINGLE = list('{}":,_') + list("0123456789")
MULTI = ['{"verb":"', '","tense":"', '","person":"', '","spanish":"', '"}', "sg", "past_", "present_", "simple",
         "_future", "participle", "infinitive", '{"', '":"', '","']


class JSONCharTokenizer:
    """Token strings by id; `encode` is character-level (prompts), `decode` concatenates."""

    def __init__(self, vocab_size: int = 64) -> None:
        self.itos: list[str] = list(SPECIALS) + list(CHARS) + SINGLE + MULTI
        if len(self.itos) > vocab_size:
            raise ValueError(f"{len(self.itos)} tokens do not fit a vocabulary of {vocab_size}")
        self.n_special = len(SPECIALS)
        self.itos += [f"<unused{i}>" for i in range(vocab_size - len(self.itos))]
        self.n_used = vocab_size - sum(s.startswith("<unused") for s in self.itos)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.vocab_size = vocab_size
        self.eos_id = EOS

    def token_text(self, i: int) -> str | None:
        """The characters of token i, or None for specials and unused slots."""
        return self.itos[i] if self.n_special <= i < self.n_used else None

    def encode(self, text: str, bos: bool = True) -> list[int]:
        """Lower-cases and keeps only characters the vocabulary has (prompts are plain sentences)."""
        ids = [self.stoi[c] for c in text.lower() if c in self.stoi]
        return ([1] if bos else []) + ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(t for t in (self.token_text(i) for i in ids) if t is not None)
