"""The §A13 corpus as model text: the one home of every line the Mini-GPT family trains or is tested on.

Rows come from the phase-12 generator (engine.lm.text.corpus.generate: English form, Spanish pair,
label, mis-conjugation type, correct form). This module turns them into the course's formats:

    pair      "es:él trabaja / en:he works"            phase 18's lab line (wrapped in <bos> ... <eos>)
              "en:he works / es:él trabaja"            the other direction (order="en-es")
    tutor     prompt "fix: he work =>"                 phase 28: correct the verb form, explain, Spanish
              response " he works | missing third person s | es: él trabaja"
              (a correct sentence answers " he works | correct | es: él trabaja")
    json      prompt "json: he works =>"               phase 30: the course's conjugation schema
              response ' {"verb":"work","tense":"present_simple","person":"3sg","spanish":"él trabaja"}'

Splits hold out whole verbs (phase 18's HELDOUT_VERBS: look, like, see, eat: 2 regular, 2 irregular),
so a val line's verb was never seen in training. Infinitive and participle cells repeat across
persons ("to go" for I/you/he); `unique_cells` keeps one of each, so no line is counted twice.

`Example` keeps the fields every phase needs; `examples(split)` is the list a phase iterates,
`lines(split, formats)` the texts a model trains on. Everything is deterministic (no RNG here
beyond the corpus seed, which only shuffles mis-conjugations the generator draws).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from engine.lm.text import corpus as C

SPECIALS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>")
PAD, BOS, EOS = 0, 1, 2
HELDOUT_VERBS: tuple[str, ...] = ("look", "like", "see", "eat")
FORMATS: tuple[str, ...] = ("pair", "pair_en_es", "tutor", "json")
CORPUS_SEED = 42
TUTOR_TAG, JSON_TAG, ARROW = "fix:", "json:", " =>"
JSON_KEYS: tuple[str, ...] = ("verb", "tense", "person", "spanish")


@dataclass(frozen=True)
class Example:
    """One corpus row, with what the formats and the evaluation slices need."""

    id: str
    text: str  # the English sentence as written (mis-conjugated for label != correct)
    english: str  # the correct English form
    spanish: str
    verb: str
    tense: str  # one of engine.lm.text.corpus.TENSE_SURFACES
    person: str  # 1sg | 2sg | 3sg
    regular: bool  # English regularity
    label: str  # correct | mis_conjugated
    mis_type: str | None

    @property
    def key(self) -> str:
        return f"{self.verb}:{self.tense}:{self.person}"


@lru_cache(maxsize=4)
def _all(seed: int) -> tuple[Example, ...]:
    out = []
    for r in C.generate(seed):
        out.append(Example(id=r["id"], text=r["text"], english=r["correct_form"] or r["text"], spanish=r["spanish"],
                           verb=r["verb_lemma"], tense=r["tense"], person=r["person"],
                           regular=r["english_regularity"] == "regular", label=r["label"],
                           mis_type=r["mis_conjugation_type"]))
    return tuple(sorted(out, key=lambda e: (e.verb, C.TENSE_SURFACES.index(e.tense), e.person, e.label, e.text)))


def examples(split: str = "all", label: str | None = "correct", seed: int = CORPUS_SEED,
             heldout: Sequence[str] = HELDOUT_VERBS) -> list[Example]:
    """Rows of `split` (train: the 16 seen verbs, val: the held-out verbs, all), optionally one label."""
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be train, val or all, got {split!r}")
    rows = [e for e in _all(seed) if label is None or e.label == label]
    if split == "train":
        rows = [e for e in rows if e.verb not in heldout]
    elif split == "val":
        rows = [e for e in rows if e.verb in heldout]
    return rows


def unique_cells(rows: Iterable[Example]) -> list[Example]:
    """One row per distinct (English, Spanish) pair: person-invariant cells appear once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for e in rows:
        if (e.english, e.spanish) not in seen:
            seen.add((e.english, e.spanish))
            out.append(e)
    return out


# ---------------------------------------------------------------------- formats
def pair_line(e: Example, order: str = "es-en") -> str:
    """The phase-18 lab line without its <bos>/<eos>: "es:<spanish> / en:<english>" (or en first)."""
    if order == "es-en":
        return f"es:{e.spanish} / en:{e.english}"
    if order == "en-es":
        return f"en:{e.english} / es:{e.spanish}"
    raise ValueError(f"order must be es-en or en-es, got {order!r}")


def translation_prompt(e: Example) -> str:
    """The es->en pair line up to its English side, "es:yo trabajé / en:": what the spine completes."""
    return pair_line(e, "es-en")[: -len(e.english)]


def pair_spans(e: Example, order: str = "es-en") -> dict[str, tuple[int, int]]:
    """Character spans of the Spanish and English forms inside pair_line(e, order): per-language scoring."""
    line = pair_line(e, order)
    first, second = ("es", "en") if order == "es-en" else ("en", "es")
    form = {"es": e.spanish, "en": e.english}
    a0 = 3
    a1 = a0 + len(form[first])
    b0 = line.index(f" / {second}:") + len(f" / {second}:")
    return {first: (a0, a1), second: (b0, b0 + len(form[second]))}


def reason(e: Example) -> str:
    return "correct" if e.mis_type is None else e.mis_type.replace("_", " ")


def tutor_prompt(text: str) -> str:
    return f"{TUTOR_TAG} {text}{ARROW}"


def tutor_response(e: Example) -> str:
    return f" {e.english} | {reason(e)} | es: {e.spanish}"


def json_target(e: Example) -> dict[str, str]:
    """The conjugation object in the course's key order verb -> tense -> person -> spanish."""
    return {"verb": e.verb, "tense": e.tense, "person": e.person, "spanish": e.spanish}


def json_prompt(text: str) -> str:
    return f"{JSON_TAG} {text}{ARROW}"


def json_response(e: Example) -> str:
    """Minified, no escapes (ensure_ascii=False keeps "él" as written)."""
    return " " + json.dumps(json_target(e), ensure_ascii=False, separators=(",", ":"))


def prompt_response(e: Example, fmt: str) -> tuple[str, str]:
    """(prompt, response) of a tutor or json example; the response is what a tuned model should generate."""
    if fmt == "tutor":
        return tutor_prompt(e.text), tutor_response(e)
    if fmt == "json":
        return json_prompt(e.text), json_response(e)
    raise ValueError(f"prompt/response formats are tutor and json, got {fmt!r}")


def format_line(e: Example, fmt: str) -> str:
    if fmt == "pair":
        return pair_line(e, "es-en")
    if fmt == "pair_en_es":
        return pair_line(e, "en-es")
    p, r = prompt_response(e, fmt)
    return p + r


def lines(split: str = "train", formats: Sequence[str] = ("pair", "pair_en_es"), label: str | None = "correct",
          seed: int = CORPUS_SEED) -> list[str]:
    """Training texts (no specials): pair formats over unique correct cells, tutor/json over every row of `label`."""
    for f in formats:
        if f not in FORMATS:
            raise ValueError(f"unknown format {f!r}; formats: {FORMATS}")
    out: list[str] = []
    for f in formats:
        rows = examples(split, "correct" if f.startswith("pair") else label, seed)
        out += [format_line(e, f) for e in (unique_cells(rows) if f.startswith("pair") else rows)]
    return out


def tokenizer_texts(seed: int = CORPUS_SEED) -> list[str]:
    """What the phase-11 BPE is trained on: every row of the corpus in every format (phase 12's rerun)."""
    return lines("all", FORMATS, label=None, seed=seed)


def words(text: str) -> list[str]:
    return text.split()
