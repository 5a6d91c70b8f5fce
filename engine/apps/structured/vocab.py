"""A byte-level BPE seen the way the masks see a vocabulary.

The masks walk each token's characters through the automaton. The automaton's alphabet is one
character per UTF-8 byte (engine.apps.structured.schema.as_bytes_text), so a token's text here is its
bytes read as latin-1: ASCII tokens are themselves, and a token holding half of "ó" is one
legal step inside a Spanish letter. Specials are None (never legal), except that end of
sequence is what the mask allows once the document may stop.

    vocab = MaskVocab(tok, bos_id=1, eos_id=2)
    vocab.encode("json: he works =>")  -> [1, ...]      # <bos> + BPE ids
    vocab.decode(ids)                  -> UTF-8 text of the non-special tokens
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class MaskVocab:
    def __init__(self, bpe: Any, bos_id: int, eos_id: int) -> None:
        self.bpe, self.bos_id, self.eos_id = bpe, bos_id, eos_id
        self.vocab_size = int(bpe.vocab_size)
        n_special = int(bpe.n_special)
        self._texts: list[str | None] = [None if i < n_special else bytes(bpe.id_to_bytes[i]).decode("latin-1")
                                         for i in range(self.vocab_size)]

    def token_text(self, i: int) -> str | None:
        return self._texts[i]

    def encode(self, text: str, bos: bool = True) -> list[int]:
        return ([self.bos_id] if bos else []) + list(self.bpe.encode(text))

    def decode(self, ids: Sequence[int]) -> str:
        data = b"".join(bytes(self.bpe.id_to_bytes[i]) for i in ids if self._texts[i] is not None)
        return data.decode("utf-8", errors="replace")
