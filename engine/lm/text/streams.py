"""The corpus's train split as one token stream (phase 13's CBOW input), BPE or bytes only.

Each row becomes "<English><|sep|><Spanish><|endoftext|>" encoded with a BPE trained on the same
split, so an English form and its Spanish pair share context windows. `byte_stream` is the
256-token (no merges, no specials) view of the same rows that phase 13's break trains on.
"""

from __future__ import annotations

import numpy as np

from engine.lm.text.bpe import BPETokenizer
from engine.lm.text.corpus_checks import canonical_splits

SPECIALS = ["<|pad|>", "<|endoftext|>", "<|unk|>", "<|sep|>"]


def pair_stream(vocab_size: int = 512, seed: int = 42) -> tuple[BPETokenizer, np.ndarray]:
    """The train split as one BPE token stream, with the tokenizer (trained on that split) that encoded it."""
    train = canonical_splits(seed)["train"]
    tok = BPETokenizer.train([t for r in train for t in (r["text"], r["spanish"])], vocab_size, SPECIALS)
    ids: list[int] = []
    for r in train:
        ids.extend(tok.encode(f"{r['text']}<|sep|>{r['spanish']}<|endoftext|>"))
    return tok, np.array(ids, dtype=np.int64)


def byte_stream(seed: int = 42) -> tuple[BPETokenizer, np.ndarray]:
    """The same rows ("English\\nSpanish\\n") encoded with the 256 byte tokens only."""
    train = canonical_splits(seed)["train"]
    tok = BPETokenizer.train([], 256)
    ids: list[int] = []
    for r in train:
        ids.extend(tok.encode(f"{r['text']}\n{r['spanish']}\n"))
    return tok, np.array(ids, dtype=np.int64)
