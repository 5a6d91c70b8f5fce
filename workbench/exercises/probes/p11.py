"""Phase 11 probes: the BPE merge rule, merging a pair in a word, encode/decode, special tokens.

Every probe compares the learner's slot with the reference on seeded random inputs plus the
course's edge cases (an empty word, a length-1 word, overlapping pairs "aaa", ties between
pair counts, empty strings, specials back to back, ids outside the vocabulary).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.labs import p11_tokenization as lab
from engine.lm.text import bpe
from engine.lm.text.bpe import BPETokenizer
from workbench.exercises.probes._compare import compare
from workbench.exercises.probes._private import through


def _pair_table(rng: np.random.Generator, n_pairs: int, n_ids: int) -> dict[tuple[int, int], int]:
    pairs = {(int(rng.integers(n_ids)), int(rng.integers(n_ids))) for _ in range(n_pairs)}
    return {p: int(rng.integers(1, 4)) for p in pairs}  # small counts: many ties


def merge_rule(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """best_pair on tied random tables; _merge_word on random words with repeats; the toy trainer."""
    out: list[str] = []
    id_to_bytes = [bytes([b]) for b in range(256)] + [b"ab", b"a", b"zz"]  # non-monotone bytes order
    for trial in range(40):
        table = _pair_table(rng, int(rng.integers(1, 12)), len(id_to_bytes))
        out += compare("best_pair", f"random pair table #{trial} (ties likely)",
                       learner.best_pair(dict(table), id_to_bytes), reference.best_pair(dict(table), id_to_bytes))
    out += compare("best_pair", "one pair only", learner.best_pair({(3, 4): 9}, id_to_bytes), (3, 4))
    words = [(), (5,), (5, 5), (5, 5, 5), (5, 5, 5, 5), (1, 2, 1, 2, 1), (2, 1, 2)]
    words += [tuple(int(x) for x in rng.integers(0, 3, int(rng.integers(0, 12)))) for _ in range(40)]
    for w in words:
        for pair in ((5, 5), (1, 2), (2, 1), (0, 0), (0, 1)):
            out += compare("_merge_word", f"word {w} merging {pair}", through(learner, bpe, "_merge_word", w, pair, 99),
                           through(reference, bpe, "_merge_word", w, pair, 99))
    corpora = [
        lab.TOY_CORPUS,
        ["aaaa", "aaa", "ab ab ab"],
        ["", "x"],
        lab.random_strings(30, int(rng.integers(1 << 30))),
    ]
    for i, corpus in enumerate(corpora):
        with learner:
            got = BPETokenizer.train(corpus, 256 + 12).merges
        with reference:
            want = BPETokenizer.train(corpus, 256 + 12).merges
        out += compare("best_pair", f"merges learned from corpus #{i}", got, want)
    return out


def encode_decode(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """Ids of the learner's encoder equal the reference's; decode inverts; bad ids raise IndexError."""
    out: list[str] = []
    with reference:  # a real vocabulary: merges that overlap ("ab" + "c" vs "a" + "bc") are everywhere
        tok = BPETokenizer.train(lab._corpus_texts("train"), 256 + 1 + 200, ["<|sep|>"])
    held = lab._corpus_texts("val")
    strings = ["", "a", "🦊", "mañana", "he worked", "<|sep|>he<|sep|>", "workworkwork"]
    strings += [held[int(i)] for i in rng.integers(0, len(held), 30)] + lab.random_strings(
        20, int(rng.integers(1 << 30))
    )
    for s in strings:
        data = s.encode("utf-8")
        with learner:
            tok._cache.clear()
            got = tok._encode_bytes(data)
            first = list(got)
            got.append(-1)  # a caller editing the returned list must not change the cached encoding
            again = tok._encode_bytes(data)
        with reference:
            tok._cache.clear()
            want = tok._encode_bytes(data)
        out += compare("_encode_bytes", f"{s!r}", first, want)
        out += compare("_encode_bytes", f"{s!r} encoded again after the caller edited the first result", again, want)
        with learner:
            back = tok.decode_bytes(want)
        out += compare("decode_bytes", f"ids of {s!r}", back, data)
    for bad in ([tok.vocab_size], [-1], [0, 10**6]):
        with learner:
            try:
                tok.decode_bytes(bad)
                out.append(f"decode_bytes: ids {bad} are outside the vocabulary: expected IndexError, got no error")
            except IndexError:
                pass
    tok._cache.clear()
    return out


def specials_and_parity(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """_split_specials on texts full of specials; _tokens_per_word against the reference."""
    out: list[str] = []
    specials = ("<|e|>", "<|e|>!", "<|endoftext|>", "<|sep|>")  # a shorter special inside a longer one
    tok = BPETokenizer(special_tokens=specials)
    pieces = ["x", "he works", "ñ", "<|e|>", "<|e|>!", "!", "<|endoftext|>", "<|sep|>", "<|", "|>", " "]
    texts = ["", "<|sep|>", "<|sep|><|sep|>", "a<|e|>!b", "<|e|><|e|>!", "<|endoftext|>he works<|sep|>"]
    texts += ["".join(pieces[int(i)] for i in rng.integers(0, len(pieces), int(rng.integers(0, 9)))) for _ in range(60)]
    for t in texts:
        with learner:
            got = tok._split_specials(t)
        with reference:
            want = tok._split_specials(t)
        out += compare("_split_specials", f"{t!r}", got, want)
    with reference:
        small = BPETokenizer.train(["he works", "he worked", "yo trabajo"] * 3, 256 + 20)
    samples = [["he works now"], ["yo  trabajo", "he"], ["a b c d e"], [""], ["x", "he worked yesterday"]]
    for s in samples:
        out += compare("_tokens_per_word", f"texts {s}", through(learner, lab, "_tokens_per_word", small, s),
                       through(reference, lab, "_tokens_per_word", small, s))
    return out
