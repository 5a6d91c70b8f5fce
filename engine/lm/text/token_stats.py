"""What a trained BPE vocabulary does to a corpus: tokens per word, frequency ranks, Zipf, morphology.

Phase 11's lab 02 trains three vocabularies on the bilingual verb corpus and asks whether the
merges it learned are morphemes (-s, -ed, will, stems) and whether Spanish pays more tokens per
word than English. The measurements live here so they can be tested on a toy tokenizer; the lab
only trains, logs and writes the table. Tokens per word stays in the lab
(`p11_tokenization._tokens_per_word`): it is the learner's exercise slot there.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from engine.lm.text import verbs as V
from engine.lm.text.bpe import BPETokenizer

FUNCTION_WORDS = {"I", "you", "he", "will", "to", "going", "am", "are", "is", "have", "has"}
SUFFIXES = {"s", "es", "ies", "d", "ed", "ied", "ing"}


def corpus_profile(texts: list[str]) -> dict[str, float | int]:
    """Bytes, lines, share of non-ASCII bytes and line lengths: what a byte-level BPE starts from."""
    raw = "\n".join(texts).encode("utf-8")
    lengths = [len(t.encode("utf-8")) for t in texts]
    return {"corpus_bytes": len(raw), "corpus_lines": len(texts),
            "non_ascii_byte_share": round(sum(b >= 0x80 for b in raw) / len(raw), 6),
            "mean_line_bytes": float(np.mean(lengths)), "median_line_bytes": float(np.median(lengths))}


def morphology(token: str, spanish_only: bool) -> str:
    """A coarse label for a learned token: spanish-specific, stem, suffix, function-word or other."""
    t = token.strip()
    if spanish_only:
        return "spanish-specific"
    if t in V.VERBS:
        return "stem"
    if t in SUFFIXES:
        return "suffix"
    if set(t.split()) & FUNCTION_WORDS:
        return "function-word"
    return "other"


def markers(tokens: list[str]) -> dict[str, bool]:
    """The DoD's six markers, looked for in a list of token strings."""
    stripped = [t.strip() for t in tokens]
    return {
        "-s": any(t in ("s", "es", "ies") for t in stripped),
        "-ed": any(t.endswith("ed") and t not in V.VERBS for t in stripped),
        "will": any("will" in t.split() for t in stripped),
        "to": any("to" in t.split() for t in stripped),
        "ing": any("ing" in t for t in stripped),
        "3+ verb stems": sum(t in V.VERBS for t in stripped) >= 3,
    }


def id_frequencies(tok: BPETokenizer, texts: list[str]) -> Counter[int]:
    """How often each token id occurs when `texts` are encoded."""
    freq: Counter[int] = Counter()
    for t in texts:
        freq.update(tok.encode(t))
    return freq


def ranked(freq: Counter[int]) -> list[tuple[int, int]]:
    """(id, count) by descending count, ties by id, so the ranking is deterministic."""
    return sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))


def zipf_slope(ranking: list[tuple[int, int]]) -> float:
    """Slope of log frequency on log rank (about -1 for Zipf's law)."""
    r = np.log(np.arange(1, len(ranking) + 1))
    f = np.log(np.array([c for _, c in ranking], dtype=float))
    return float(np.polyfit(r, f, 1)[0])


def top_merges(tok: BPETokenizer, ranking: list[tuple[int, int]], k: int) -> list[tuple[int, int]]:
    """The k most frequent learned tokens: the 256 base bytes and the specials are not merges."""
    first_merge = tok.n_special + 256
    return [(i, c) for i, c in ranking if i >= first_merge][:k]
