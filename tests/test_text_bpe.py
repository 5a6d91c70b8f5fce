"""Byte-level BPE (engine.lm.text.bpe): the toy trace, the tie-break, round-trips, files, specials."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lm.text.bpe import BPETokenizer, reference_merges

TOY = ["I work", "I work", "I worked", "he works", "he worked"]
SPECIALS = ["<|pad|>", "<|endoftext|>", "<|unk|>", "<|sep|>"]
CORPUS = ["I work", "you work", "he works", "I worked", "yo trabajé", "tú trabajaste", "él trabajó",
          "mañana", "¿cómo estás?", "I will work", "I am going to work", "yo voy a trabajar"] * 3


@pytest.fixture(scope="module")
def tok() -> BPETokenizer:
    return BPETokenizer.train(CORPUS, 300, SPECIALS)


def test_train_minimal_corpus_gives_the_corrected_trace() -> None:
    t = BPETokenizer.train(TOY, 264)
    assert t.merges == [(b" ", b"w"), (b" w", b"o"), (b" wo", b"r"), (b" wor", b"k"), (b"I", b" work"),
                        (b"e", b" work"), (b"e", b"d"), (b"h", b"e work")]


def test_tiebreak_goes_to_the_smallest_pair_not_the_largest() -> None:
    # "ab" and "cd" both occur twice: min() picks (a, b); the course's max() sketch would pick (c, d)
    assert BPETokenizer.train(["ab", "cd", "ab", "cd"], 257).merges == [(b"a", b"b")]


def test_incremental_trainer_equals_full_recount() -> None:
    t = BPETokenizer.train(CORPUS, 256 + 60)
    assert t.merges == reference_merges(CORPUS, 60)


def test_vocab_size_target_reached_exactly(tok: BPETokenizer) -> None:
    assert tok.vocab_size == 300 and len(tok.merges) == 300 - 256 - 4


def test_roundtrip_fixed_strings(tok: BPETokenizer) -> None:
    for s in ["", "a", "mañana", "¿cómo estás?", "🦊", "he works", "x" * 50, "niño\n\t"]:
        assert tok.decode(tok.encode(s)) == s
    assert tok.encode("") == [] and len(tok.encode("a")) == 1
    assert len("mañana".encode()) == 7 and len("🦊".encode()) == 4


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_encode_decode_property(s: str) -> None:
    t = _PROPERTY_TOK
    assert t.decode(t.encode(s)) == s


_PROPERTY_TOK = BPETokenizer.train(CORPUS, 290)


def test_special_tokens_are_atomic(tok: BPETokenizer) -> None:
    ids = tok.encode("<|endoftext|>I work<|sep|><|pad|>")
    assert ids[0] == 1 and ids[-2:] == [3, 0]
    assert tok.decode(ids) == "<|endoftext|>I work<|sep|><|pad|>"
    assert all(b"<|" not in a + b for a, b in tok.merges)


def test_out_of_range_id_raises(tok: BPETokenizer) -> None:
    with pytest.raises(IndexError):
        tok.decode([99999])
    with pytest.raises(IndexError):
        tok.decode([-1])


def test_save_load_roundtrip_and_determinism(tok: BPETokenizer, tmp_path: Path) -> None:
    tok.save(tmp_path / "a")
    BPETokenizer.train(CORPUS, 300, SPECIALS).save(tmp_path / "b")
    for name in ("vocab.json", "merges.txt", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    loaded = BPETokenizer.load(tmp_path / "a")
    assert loaded.merges == tok.merges and loaded.special_tokens == tok.special_tokens
    assert all(loaded.encode(s) == tok.encode(s) for s in CORPUS)
    first = (tmp_path / "a" / "merges.txt").read_text().splitlines()[0]
    assert "\t" in first and all(c in "0123456789abcdef\t" for c in first)


def test_vocab_size_below_base_is_rejected() -> None:
    with pytest.raises(ValueError):
        BPETokenizer.train(TOY, 100)


@pytest.mark.slow
@settings(max_examples=1000, derandomize=True, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_encode_decode_property_1000(s: str) -> None:
    """The course's gate: 1,000 hypothesis strings (ASCII, Spanish, emoji, anything but surrogates)."""
    t = _PROPERTY_TOK
    assert t.decode(t.encode(s)) == s
