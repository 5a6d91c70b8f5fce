"""The BPE tokenizer's contract, as checks a lab or a test can run on any trained BPETokenizer.

Phase 11 lab 01 reports these: exact round trips on arbitrary UTF-8, byte-identical files from two
trainings, save/load giving the same merges and ids, a named IndexError for ids outside the
vocabulary, and encode agreeing with replaying the merges in training order (engine.lm.text.bpe.
replay_encode). They call the tokenizer's public methods, so an exercise's version of a method is
what gets checked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.lm.text.bpe import BPETokenizer, replay_encode

FILES = ("vocab.json", "merges.txt", "config.json")


def roundtrip_failures(tok: BPETokenizer, strings: list[str],
                       every: Callable[[int, int], None] | None = None) -> int:
    """Strings whose decode(encode(s)) is not s; `every(i, failures)` each 100 strings."""
    failures = 0
    for i, s in enumerate(strings):
        failures += tok.decode(tok.encode(s)) != s
        if every is not None and i % 100 == 0:
            every(i, failures)
    return failures


def files_identical(a: Path, b: Path) -> bool:
    """Two saved tokenizers whose vocab, merges and config files are byte for byte the same."""
    return all((a / f).read_bytes() == (b / f).read_bytes() for f in FILES)


def save_load_ok(tok: BPETokenizer, saved: Path, strings: list[str]) -> bool:
    """The tokenizer loaded from `saved` has the same merges and encodes `strings` to the same ids."""
    loaded = BPETokenizer.load(saved)
    return loaded.merges == tok.merges and all(loaded.encode(s) == tok.encode(s) for s in strings)


def out_of_range_errors(tok: BPETokenizer) -> tuple[bool, bool]:
    """(every out-of-range id raises IndexError, every message names the vocabulary): the tokenizer's own
    range check, not a stray list lookup."""
    raises, explained = True, True
    for bad in ([99999], [-1], [tok.vocab_size]):
        try:
            tok.decode(bad)
            raises = False
        except IndexError as err:
            explained = explained and "outside the vocabulary" in str(err)
    return raises, explained


def replay_mismatches(tok: BPETokenizer, strings: list[str]) -> int:
    """Strings whose segmentation differs from replaying the merges in training order."""
    return sum([tok.id_to_bytes[i] for i in tok.encode(s)] != replay_encode(tok.merges, s.encode("utf-8"))
               for s in strings)
