"""Text normalisation and word matching shared by the free-text and conjugation graders.

A learner types "O(N²·d)" where the key says "n^2", "Decoding." where it says "decode",
"accumulates" where it says "accumulate". The course grades by raw substring, which fails
all three and, worse, lets a one-letter needle like "V" match almost any answer. So:

* `normalize` — Unicode NFKC (superscripts and other compatibility forms become plain
  characters: "x²" → "x2"), curly quotes → straight, case-fold, a caret or `**` before a
  digit dropped ("n^2" → "n2", so both spellings meet), whitespace collapsed, one trailing
  "." stripped.
* `words` — the normalised text split into runs of letters/digits; accents folded away.
* `word_matches` — whole-word match with stem/prefix tolerance: equal, or the answer word
  extends a keyword of 4+ characters ("regress" → "regression"), or both share a light
  stem of 4+ characters ("decode"/"decoding", "correlate"/"correlation"). Short keywords
  ("v", "kl", "1") must match a whole word exactly.
* `phrase_in` — a multi-word keyword matches consecutive answer words, each tolerantly.
"""

from __future__ import annotations

import re
import unicodedata

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "−": "-", "–": "-", "—": "-"})
_POWER = re.compile(r"(\^|\*\*)(?=[0-9])")
_WORD = re.compile(r"[^\W_]+")
# Longest first: the first suffix that leaves a stem of 4+ characters is removed.
_SUFFIXES = (
    "izations", "isations", "ization", "isation", "ations", "ation", "ments", "ment",
    "ings", "ing", "ions", "ion", "ities", "ity", "ness", "ers", "er", "ies", "ied",
    "ates", "ated", "ate", "es", "ed", "ly", "s", "e", "y",
)
MIN_FUZZY = 4


def normalize(text: str) -> str:
    """Canonical form for comparison: NFKC, straight quotes, case-folded, collapsed, no trailing dot."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = _POWER.sub("", text)
    text = " ".join(text.split())
    if text.endswith("."):
        text = text[:-1].rstrip()
    return text


def fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Normalised, accent-folded words (letters and digits; punctuation separates)."""
    return _WORD.findall(fold_accents(normalize(text)))


def stem(word: str) -> str:
    """A light suffix-stripping stem, enough for English inflection and -ion/-ation nouns."""
    for suffix in _SUFFIXES:
        if suffix == "s" and word.endswith("ss"):
            continue
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_FUZZY:
            return word[: -len(suffix)]
    return word


def word_matches(answer_word: str, keyword: str) -> bool:
    if answer_word == keyword:
        return True
    if len(keyword) < MIN_FUZZY or keyword.isdigit() or answer_word.isdigit():
        return False
    if answer_word.startswith(keyword):
        return True
    root = stem(keyword)
    return len(root) >= MIN_FUZZY and stem(answer_word) == root


def phrase_in(answer_words: list[str], keyword_words: list[str]) -> bool:
    """True when the keyword's words appear consecutively in the answer (tolerant per word)."""
    n = len(keyword_words)
    if n == 0:
        return False
    for start in range(len(answer_words) - n + 1):
        if all(word_matches(answer_words[start + i], kw) for i, kw in enumerate(keyword_words)):
            return True
    return False
