"""The §A13 corpus as token-id sequences for sequence models (phase 14, lab 00).

Each row becomes "<english> / <spanish>", encoded with a tokenizer trained on the train
split only, with <bos> in front and <eos> after. Two tokenizers: the Phase 11 byte-level BPE
(default, vocab 512 counting the specials) or the course's word-level fallback (whitespace
words, <unk> for words never seen in train). By default only the correct rows are kept: the
mis-conjugated rows are negative examples for a classifier, and a language model trained on
them would learn the errors.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Protocol

from engine.lm.text.bpe import BPETokenizer
from engine.lm.text.corpus_checks import canonical_splits

SPECIALS = ("<bos>", "<eos>", "<|pad|>", "<|sep|>")
SPLITS = ("train", "dev", "test")  # "dev" is Phase 12's val.jsonl


class Tokenizer(Protocol):
    @property
    def vocab_size(self) -> int: ...
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def token_str(self, i: int) -> str: ...


@dataclass
class WordTokenizer:
    """Whitespace words; ids: the specials, <unk>, then train words in sorted order."""

    words: list[str]
    specials: tuple[str, ...] = SPECIALS + ("<unk>",)
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.vocab = list(self.specials) + sorted(set(self.words) - set(self.specials))
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        unk = self.index["<unk>"]
        return [self.index.get(w, unk) for w in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.vocab[i] for i in ids)

    def token_str(self, i: int) -> str:
        return self.vocab[i]


@dataclass
class SequenceData:
    tokenizer: Tokenizer
    scheme: str
    bos: int
    eos: int
    texts: dict[str, list[str]]  # "<english> / <spanish>" per kept row
    ids: dict[str, list[list[int]]]  # [bos] + encode(text) + [eos]
    rows: dict[str, list[dict]]


def row_text(row: dict) -> str:
    return unicodedata.normalize("NFC", f"{row['text']} / {row['spanish']}")


_CACHE: dict[tuple[int, str, int, bool], SequenceData] = {}


def build(seed: int = 42, scheme: str = "bpe", vocab_size: int = 512, include_mis_conjugated: bool = False) -> SequenceData:
    """Tokenize the canonical splits; the tokenizer sees the train split only. Cached per arguments."""
    key = (seed, scheme, vocab_size, include_mis_conjugated)
    if key in _CACHE:
        return _CACHE[key]
    raw = canonical_splits(seed)
    rows = {name: [r for r in raw["val" if name == "dev" else name]
                   if include_mis_conjugated or r["label"] == "correct"] for name in SPLITS}
    texts = {name: [row_text(r) for r in rs] for name, rs in rows.items()}
    tok: Tokenizer
    if scheme == "bpe":
        tok = BPETokenizer.train(texts["train"], vocab_size, SPECIALS)
        bos, eos = tok.encode("<bos>")[0], tok.encode("<eos>")[0]
    elif scheme == "wordlevel":
        tok = WordTokenizer([w for t in texts["train"] for w in t.split()])
        bos, eos = tok.index["<bos>"], tok.index["<eos>"]
    else:
        raise ValueError(f"scheme must be bpe or wordlevel, got {scheme!r}")
    ids = {name: [[bos, *tok.encode(t), eos] for t in ts] for name, ts in texts.items()}
    _CACHE[key] = SequenceData(tok, scheme, bos, eos, texts, ids, rows)
    return _CACHE[key]
