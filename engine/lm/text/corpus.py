"""The §A13 corpus generator (phase 12): 20 verbs x 6 tense surfaces x 3 persons = 360 cells.

Every cell gets one correct English row with its Spanish translation, then 0-2 named
mis-conjugations drawn with a seeded `random.Random` from the types eligible in that cell.
English forms reuse `engine.lm.text.verbs` (spelling rules + irregular table); the surfaces
split its "future" into "will" and "going to" and keep the participle bare ("worked").

Taxonomy choices (where the course's text, applied literally, produces bad rows — see the
phase-12 YAML notes):
- bare_participle_missing_aux only for verbs whose participle differs from both the past
  and the lemma (be, do, go, see, eat, write): for the others "he worked" / "I come" would
  be a correct sentence labelled as a mistake.
- overregularization_past skips `be` ("bed" is a real word, not a recognisable error).
- subject_verb_disagreement swaps the person's auxiliary in cells that have one (be in the
  present and past, the am/are/is of "going to"), so its correct form is an in-grid row.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from engine.lm.text import verbs as V
from engine.lm.text.spanish import SPANISH, spanish_form

CORPUS_NAME = "lynx-cortex-verbgrammar-v1"
CORPUS_VERSION = "1.0.0"
TENSE_SURFACES: tuple[str, ...] = (
    "infinitive", "present_simple", "past_simple", "past_participle", "future_will", "future_going_to",
)
PERSONS: tuple[str, ...] = ("1sg", "2sg", "3sg")
PRONOUNS: tuple[str, ...] = V.PRONOUNS  # I, you, he
LABELS: tuple[str, ...] = ("correct", "mis_conjugated")
MIS_TYPES: tuple[str, ...] = (
    "missing_third_person_s", "overregularization_past", "wrong_aux_will_with_to",
    "wrong_aux_going_to_missing_ing", "subject_verb_disagreement", "bare_participle_missing_aux",
)
BE_PRESENT: tuple[str, ...] = ("am", "are", "is")
_SWAP_PRESENT = {"am": "is", "are": "is", "is": "are"}
_SWAP_PAST = {"was": "were", "were": "was"}
# index of each surface's source tense in engine.lm.text.verbs.TENSES
_VERBS_TENSE = {"infinitive": 0, "present_simple": 1, "past_simple": 2, "past_participle": 3}


def english_form(verb: str, tense: str, person: int) -> str:
    """The English row text: "to work", "he works", "I worked", "worked", "I will work", "I am going to work"."""
    pron = PRONOUNS[person]
    if tense == "future_will":
        return f"{pron} will {verb}"
    if tense == "future_going_to":
        return f"{pron} {BE_PRESENT[person]} going to {verb}"
    form = V.conjugate(verb, _VERBS_TENSE[tense], person)
    return form if tense in ("infinitive", "past_participle") else f"{pron} {form}"


def normalize(text: str) -> str:
    """Fingerprint normal form: NFC, stripped, lower case except the pronoun I."""
    words = unicodedata.normalize("NFC", text).strip().split()
    return " ".join(w if w == "I" else w.lower() for w in words)


def fingerprint(text: str) -> str:
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------- mis-conjugations
def _missing_third_person_s(verb: str, tense: str, person: int) -> tuple[str, str] | None:
    if tense != "present_simple" or person != 2:
        return None
    return f"he {verb}", english_form(verb, tense, person)


def _overregularization_past(verb: str, tense: str, person: int) -> tuple[str, str] | None:
    if verb not in V.IRREGULAR or verb == "be" or tense not in ("past_simple", "past_participle"):
        return None
    wrong = V.regular_past(verb)
    text = wrong if tense == "past_participle" else f"{PRONOUNS[person]} {wrong}"
    return text, english_form(verb, tense, person)


def _wrong_aux_will_with_to(verb: str, tense: str, person: int) -> tuple[str, str] | None:
    if tense != "future_will":
        return None
    return f"{PRONOUNS[person]} will to {verb}", english_form(verb, tense, person)


def _wrong_aux_going_to_missing_ing(verb: str, tense: str, person: int) -> tuple[str, str] | None:
    if tense != "future_going_to":
        return None
    return f"{PRONOUNS[person]} {BE_PRESENT[person]} go to {verb}", english_form(verb, tense, person)


def _subject_verb_disagreement(verb: str, tense: str, person: int) -> tuple[str, str] | None:
    correct = english_form(verb, tense, person)
    pron, aux, *rest = correct.split() + [""]
    swap = None
    if tense == "future_going_to" or (verb == "be" and tense == "present_simple"):
        swap = _SWAP_PRESENT.get(aux)
    elif verb == "be" and tense == "past_simple":
        swap = _SWAP_PAST.get(aux)
    if swap is None:
        return None
    return " ".join([pron, swap, *[w for w in rest if w]]), correct


def _bare_participle_missing_aux(verb: str, tense: str, person: int) -> tuple[str, str] | None:
    if tense != "past_participle":
        return None
    participle = V.conjugate(verb, 3, person)
    pasts = {V.conjugate(verb, 2, p) for p in range(3)}
    if participle in pasts or participle == verb:
        return None  # "he worked" / "I come" would be correct sentences
    aux = "has" if person == 2 else "have"
    return f"{PRONOUNS[person]} {participle}", f"{PRONOUNS[person]} {aux} {participle}"


MIS_RULES: dict[str, Callable[[str, str, int], tuple[str, str] | None]] = {
    "missing_third_person_s": _missing_third_person_s,
    "overregularization_past": _overregularization_past,
    "wrong_aux_will_with_to": _wrong_aux_will_with_to,
    "wrong_aux_going_to_missing_ing": _wrong_aux_going_to_missing_ing,
    "subject_verb_disagreement": _subject_verb_disagreement,
    "bare_participle_missing_aux": _bare_participle_missing_aux,
}
OUT_OF_GRID_CORRECT_FORMS = ("bare_participle_missing_aux",)  # correct form is a present perfect


def eligible_mis_conjugations(verb: str, tense: str, person: int) -> list[str]:
    return [name for name in MIS_TYPES if MIS_RULES[name](verb, tense, person) is not None]


# ---------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Cell:
    verb: str
    tense: str
    person: int

    @property
    def key(self) -> str:
        return f"{self.verb}:{self.tense}:{PERSONS[self.person]}"


def cells() -> list[Cell]:
    """All 360 cells in (verb, tense, person) order."""
    return [Cell(v, t, p) for v in V.VERBS for t in TENSE_SURFACES for p in range(3)]


def _nfc(s: str | None) -> str | None:
    return None if s is None else unicodedata.normalize("NFC", s)


def _row(cell: Cell, text: str, label: str, mis_type: str | None, correct: str | None) -> dict:
    return {
        "text": _nfc(text), "spanish": _nfc(spanish_form(cell.verb, cell.tense, cell.person)),
        "verb_lemma": cell.verb, "spanish_lemma": SPANISH[cell.verb].lemma,
        "tense": cell.tense, "person": PERSONS[cell.person],
        "english_regularity": "regular" if cell.verb in V.REGULAR else "irregular",
        "spanish_regularity": SPANISH[cell.verb].regularity,
        "label": label, "mis_conjugation_type": mis_type, "correct_form": _nfc(correct),
        "fingerprint": fingerprint(text),
    }


def generate(seed: int = 42, max_mis_per_cell: int = 2, fault: str | None = None) -> list[dict]:
    """All rows: one correct row per cell, 0..max_mis_per_cell mis rows, shuffled by `seed`, ids 0000...

    Fault `literal_taxonomy` applies bare_participle_missing_aux to every participle cell as the
    course's text does (it then produces correct sentences labelled as errors).
    """
    rng = random.Random(seed)
    rows: list[dict] = []
    for cell in cells():
        rows.append(_row(cell, english_form(cell.verb, cell.tense, cell.person), "correct", None, None))
        eligible = eligible_mis_conjugations(cell.verb, cell.tense, cell.person)
        if fault == "literal_taxonomy" and cell.tense == "past_participle" and "bare_participle_missing_aux" not in eligible:
            eligible.append("bare_participle_missing_aux")
        k = rng.randint(0, min(max_mis_per_cell, len(eligible)))
        for name in sorted(rng.sample(eligible, k), key=MIS_TYPES.index):
            made = MIS_RULES[name](cell.verb, cell.tense, cell.person)
            if made is None:  # only under the literal-taxonomy fault
                participle = V.conjugate(cell.verb, 3, cell.person)
                aux = "has" if cell.person == 2 else "have"
                made = (f"{PRONOUNS[cell.person]} {participle}", f"{PRONOUNS[cell.person]} {aux} {participle}")
            rows.append(_row(cell, made[0], "mis_conjugated", name, made[1]))
    rng.shuffle(rows)
    for i, row in enumerate(rows):
        row["id"] = f"{i:04d}"
        row["seed"] = 1000 * seed + i
    return rows
