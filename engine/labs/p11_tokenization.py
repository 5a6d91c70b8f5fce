"""Phase 11 labs: BPE by hand (the trace), the tokenizer's contract, BPE on the verb corpus.

Fault `english_only_corpus` (the phase's break, lab 02): the tokenizer is trained on the
English half of the corpus only, so Spanish words fall apart into many more pieces.
"""

from __future__ import annotations

import hashlib
import math
import time
import unicodedata
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.lm.text import bpe_checks as BC
from engine.lm.text import token_stats as TS
from engine.lm.text.bpe import BPETokenizer, display, reference_merges
from engine.lm.text.corpus_checks import canonical_splits

TOY_CORPUS = ["I work", "I work", "I worked", "he works", "he worked"]
# The documented rule (highest count, ties to the smallest byte pair) on the toy corpus.
# The course's printed trace differs: it miscounts (" ", "w") and breaks ties with max().
TOY_REFERENCE: list[tuple[bytes, bytes]] = [
    (b" ", b"w"), (b" w", b"o"), (b" wo", b"r"), (b" wor", b"k"), (b"I", b" work"),
    (b"e", b" work"), (b"e", b"d"), (b"h", b"e work"),
]
SPECIALS = ["<|pad|>", "<|endoftext|>", "<|unk|>", "<|sep|>"]


def _pair(p: tuple[bytes, bytes]) -> str:
    return f"({display(p[0])!r}, {display(p[1])!r})"


# ---------------------------------------------------------------------- lab 00
def bpe_by_hand(cfg: dict, rec: Recorder) -> dict:
    """Train the toy corpus merge by merge and write the trace a learner checks a paper trace against."""
    corpus = list(cfg["corpus"])
    specials = list(cfg["special_tokens"])
    n_merges = int(cfg["vocab_size"]) - 256 - len(specials)
    predict = int(cfg["predict_merges"])
    trace: list[dict] = []
    tok = BPETokenizer.train(corpus, 256 + len(specials) + n_merges + predict, specials,
                             trace=trace, trace_steps=n_merges + predict)
    lines = ["# BPE by hand: the reference trace", "",
             f"Corpus: {corpus!r}; one pre-token per line; ties go to the smallest (bytes, bytes) pair.", ""]
    for t in trace:
        top = t["table"][:8]
        tied = [p for p, c in t["table"] if c == t["count"]]
        rec.log(t["step"], stage="trace", count=t["count"], tied=len(tied), merge=_pair(t["winner"]))
        part = "merge" if t["step"] <= n_merges else "predicted merge"
        lines += [f"## {part} {t['step']}: {_pair(t['winner'])} (count {t['count']})", "",
                  "| pair | count |", "|---|---|"] + [f"| {_pair(p)} | {c} |" for p, c in top]
        if len(tied) > 1:
            lines += ["", f"Tie between {len(tied)} pairs at {t['count']}; {_pair(t['winner'])} sorts first."]
        lines += ["", "vocabulary after: " + ", ".join(repr(display(a + b)) for a, b in tok.merges[:t["step"]]), ""]
    path = rec.artifact("trace.md", "trace")
    path.write_text("\n".join(lines), encoding="utf-8")
    got = tok.merges
    return {
        "n_merges": n_merges,
        "first_merge": _pair(got[0]) if got else "",
        "first_merge_count": trace[0]["count"] if trace else 0,
        "first_merge_ties": sum(1 for _, c in trace[0]["table"] if c == trace[0]["count"]) if trace else 0,
        "first_five_merges_match_reference": got[:5] == TOY_REFERENCE[:5],
        "predicted_merges_6_8_match": got[5:8] == TOY_REFERENCE[5:8],
        "matches_plain_reference_trainer": got == reference_merges(corpus, len(got)),
        "merges": [_pair(p) for p in got],
    }


# ---------------------------------------------------------------------- lab 01
def random_strings(n: int, seed: int) -> list[str]:
    """Mixed strings: ASCII, the Spanish letters, emoji and any other non-surrogate code point."""
    rng = np.random.default_rng(seed)
    spanish = list("áéíóúñüÁÉÍÓÚÑÜ¿¡")
    out = []
    for _ in range(n):
        chars = []
        for _ in range(int(rng.integers(0, 24))):
            kind = rng.integers(0, 4)
            if kind == 0:
                chars.append(chr(int(rng.integers(0x20, 0x7F))))
            elif kind == 1:
                chars.append(spanish[int(rng.integers(len(spanish)))])
            elif kind == 2:
                chars.append(chr(int(rng.integers(0x1F300, 0x1FAFF))))
            else:
                cp = int(rng.integers(0, 0x110000))
                chars.append(chr(cp if not 0xD800 <= cp <= 0xDFFF else 0xFFFD))  # lone surrogates are not UTF-8
        out.append("".join(chars))
    return out


def _corpus_texts(split: str = "train", languages: tuple[str, ...] = ("en", "es"), seed: int = 42) -> list[str]:
    rows = canonical_splits(seed)[split]
    out = []
    for r in rows:
        if "en" in languages:
            out.append(unicodedata.normalize("NFC", r["text"]))
        if "es" in languages:
            out.append(unicodedata.normalize("NFC", r["spanish"]))
    return out


def implement_bpe(cfg: dict, rec: Recorder) -> dict:
    """The tokenizer's contract: exact size, round-trips, determinism, files, errors, the toy trace."""
    size = int(cfg["vocab_size"])
    texts = _corpus_texts()
    tok = BPETokenizer.train(texts, size)
    strings = random_strings(int(cfg["n_random_strings"]), int(cfg["hypothesis_seed"]))
    fixed = ["", "a", "mañana", "¿cómo estás?", "🦊", "he works", "yo trabajé", "niño"]
    failures = BC.roundtrip_failures(tok, fixed + strings, lambda i, f: rec.log(i, stage="roundtrip", failures=f))
    d1, d2 = rec.out_dir / "tok_a", rec.out_dir / "tok_b"
    tok.save(d1)
    BPETokenizer.train(texts, size).save(d2)
    deterministic = BC.files_identical(d1, d2)
    save_load = BC.save_load_ok(tok, d1, fixed + strings[:200])
    raises, explained = BC.out_of_range_errors(tok)
    # the segmentation itself, against replaying the merges in training order (held-out corpus rows + fixed strings)
    replay_mismatches = BC.replay_mismatches(tok, fixed + _corpus_texts("val") + strings[:100])
    with_specials = BPETokenizer.train(texts, size + len(SPECIALS), SPECIALS)
    special_ids = with_specials.encode("<|endoftext|>he works<|sep|>")
    toy = BPETokenizer.train(TOY_CORPUS, 261)
    for name in ("vocab.json", "merges.txt", "config.json"):
        rec.artifact(d1 / name, "tokenizer")
    return {
        "roundtrip_failures": failures,
        "n_strings": len(fixed) + len(strings),
        "vocab_size_reached": tok.vocab_size,
        "deterministic": deterministic,
        "save_load_roundtrip": save_load,
        "out_of_range_id_raises": raises,
        "out_of_range_id_error_names_vocabulary": explained,
        "encode_vs_merge_replay_mismatches": replay_mismatches,
        "empty_string_ids": len(tok.encode("")),
        "single_byte_ids": len(tok.encode("a")),
        "special_tokens_atomic": special_ids[0] == 1 and special_ids[-1] == 3
        and with_specials.decode(special_ids) == "<|endoftext|>he works<|sep|>",
        "toy_merges_match_reference": toy.merges == TOY_REFERENCE[:5],
        "merges_sha256": hashlib.sha256((d1 / "merges.txt").read_bytes()).hexdigest(),
    }


# ---------------------------------------------------------------------- lab 02
def _tokens_per_word(tok: BPETokenizer, texts: list[str]) -> float:
    """Token ids over whitespace-separated words: the parity measure (the exercise slot of lab 02)."""
    words = sum(len(t.split()) for t in texts)
    return sum(len(tok.encode(t)) for t in texts) / max(words, 1)


def _vocab_size_rows(tok: BPETokenizer, size: int, held_en: list[str], held_es: list[str], rec: Recorder,
                     out: dict[str, Any]) -> None:
    """One vocabulary: its saved files' hash and the en/es tokens per word on held-out rows."""
    paths = tok.save(rec.out_dir / "vocabs" / str(size))
    out[f"final_vocab_size_{size}"] = tok.vocab_size
    out[f"merges_sha256_{size}"] = hashlib.sha256(paths["merges"].read_bytes()).hexdigest()
    tpw_en, tpw_es = _tokens_per_word(tok, held_en), _tokens_per_word(tok, held_es)
    rec.log(size, stage="parity", vocab_size=size, language="en", tokens_per_word=tpw_en)
    rec.log(size, stage="parity", vocab_size=size, language="es", tokens_per_word=tpw_es)
    out[f"tokens_per_word_en_{size}"] = tpw_en
    out[f"tokens_per_word_es_{size}"] = tpw_es
    out[f"es_en_tokens_per_word_ratio_{size}"] = tpw_es / tpw_en


def _top_tokens(tok: BPETokenizer, en: list[str], es: list[str], held_es: list[str], top_k: int, rec: Recorder,
                out: dict[str, Any]) -> None:
    """The 512 vocabulary's Zipf curve and its top learned tokens, labelled by morphology."""
    ranking = TS.ranked(TS.id_frequencies(tok, en + es))
    en_pieces = set(TS.id_frequencies(tok, en))
    for rank, (_, count) in enumerate(ranking, start=1):
        rec.log(rank, stage="zipf", rank=rank, frequency=count)
    out["zipf_slope"] = TS.zipf_slope(ranking)
    out["tokens_used_512"] = len(ranking)
    top = TS.top_merges(tok, ranking, top_k)  # ranks learned merges, not the 256 base bytes
    table = ["| rank | token | count | morphology |", "|---|---|---|---|"]
    names = [tok.token_str(i) for i, _ in top]
    for rank, ((i, count), name) in enumerate(zip(top, names, strict=True), start=1):
        label = TS.morphology(name, i not in en_pieces)
        rec.log(rank, stage="top_tokens", token=repr(name), count=count, morphology=label)
        table.append(f"| {rank} | `{name!r}` | {count} | {label} |")
    rec.artifact("top_tokens_512.md", "table").write_text("\n".join(table) + "\n", encoding="utf-8")
    marks = TS.markers(names)
    out["markers_in_top30"] = sum(marks.values())
    out["markers_found"] = [k for k, v in marks.items() if v]
    out["spanish_tokens_in_top30"] = sum(1 for i, _ in top if i not in en_pieces)
    out["top30"] = names
    out["last_merges_512"] = [tok.token_str(i) for i in range(tok.vocab_size - 10, tok.vocab_size)]
    for s in held_es[:5]:
        rec.note(f"{s!r} -> {[tok.token_str(i) for i in tok.encode(s)]}")


def train_on_corpus(cfg: dict, rec: Recorder) -> dict:
    """Three vocabularies on the corpus's train split; top tokens, Zipf, parity on held-out rows."""
    specials = list(cfg["special_tokens"])
    en, es = _corpus_texts("train", ("en",)), _corpus_texts("train", ("es",))
    training = en if cfg.get("fault") == "english_only_corpus" else en + es
    held_en = _corpus_texts("val", ("en",)) + _corpus_texts("test", ("en",))
    held_es = _corpus_texts("val", ("es",)) + _corpus_texts("test", ("es",))
    out: dict[str, Any] = {**TS.corpus_profile(en + es),
                           "trained_on": "english" if len(training) == len(en) else "english+spanish"}
    rec.note(f"corpus: {out['corpus_lines']} lines, {out['corpus_bytes']} bytes, "
             f"{100 * out['non_ascii_byte_share']:.1f}% non-ASCII bytes")
    for size in [int(s) for s in cfg["vocab_sizes"]]:
        t0 = time.perf_counter()
        tok = BPETokenizer.train(training, size, specials)
        rec.log(size, stage="train_time", vocab_size=size, train_seconds=time.perf_counter() - t0)  # metrics only
        _vocab_size_rows(tok, size, held_en, held_es, rec, out)
        if size == 512:
            _top_tokens(tok, en, es, held_es, int(cfg["top_k"]), rec, out)
    rec.note("top-30 ranked by frequency in the encoded corpus, not by merge order (see notes)")
    # hand cases: a special inside a longer one stays whole, specials back to back leave no empty pieces,
    # and tokens per word is ids over whitespace-separated words
    nested = BPETokenizer(special_tokens=("<|e|>", "<|e|>!"))
    out["specials_hand_cases_ok"] = (nested._split_specials("a<|e|>!b<|e|><|e|>") == ["a", 1, "b", 0, 0]
                                     and nested._split_specials("") == [])
    out["tokens_per_word_hand_case"] = _tokens_per_word(BPETokenizer(), ["he works", " no "])
    out["zipf_slope"] = out.get("zipf_slope", math.nan)
    return out
