"""The course's verb-grammar corpus (§A13): 20 verbs x 5 tenses x 3 persons = 300 English forms.

Public API (other modules import this; keep it small):
    VERBS, REGULAR, IRREGULAR      the 20 lemmas (12 regular, then 8 irregular)
    TENSES                         ("infinitive", "present", "past", "past_participle", "future"), labels 0-4
    PERSONS, PRONOUNS              ("first", "second", "third") and ("I", "you", "he"), indices 0-2
    conjugate(verb, tense, person) the verb form alone: "to work", "works", "worked", "worked", "will work"
    phrase(verb, tense, person)    an unambiguous phrase: "to work", "he works", "he worked",
                                   "he has worked", "he will work"
    grid()                         all 300 `Form`s in (verb, tense, person) order

Forms come from spelling rules (third-person -s/-es/-ies; past -ed/-d/-ied with CVC
doubling) plus an irregular table. Regular verbs share the past and past-participle form
("worked"), so the bare form alone cannot tell those two tenses apart; `phrase` adds the
perfect auxiliary (have/has) to the participle, which makes tense a function of the phrase.
"""

from __future__ import annotations

from dataclasses import dataclass

REGULAR: tuple[str, ...] = (
    "work", "play", "walk", "talk", "listen", "watch", "study", "finish", "start", "look", "want", "like",
)
IRREGULAR: tuple[str, ...] = ("be", "have", "do", "go", "come", "see", "eat", "write")
VERBS: tuple[str, ...] = REGULAR + IRREGULAR
TENSES: tuple[str, ...] = ("infinitive", "present", "past", "past_participle", "future")
PERSONS: tuple[str, ...] = ("first", "second", "third")
PRONOUNS: tuple[str, ...] = ("I", "you", "he")

# lemma -> (third-person present, past, past participle); `be` is handled separately.
_IRREGULAR_TABLE: dict[str, tuple[str, str, str]] = {
    "have": ("has", "had", "had"),
    "do": ("does", "did", "done"),
    "go": ("goes", "went", "gone"),
    "come": ("comes", "came", "come"),
    "see": ("sees", "saw", "seen"),
    "eat": ("eats", "ate", "eaten"),
    "write": ("writes", "wrote", "written"),
}
_BE_PRESENT = ("am", "are", "is")
_BE_PAST = ("was", "were", "was")
_VOWELS = set("aeiou")


@dataclass(frozen=True)
class Form:
    verb: str
    tense: int  # index into TENSES
    person: int  # index into PERSONS
    text: str  # conjugate(...)
    phrase: str  # phrase(...)


def third_singular(verb: str) -> str:
    """Present tense, third person singular, by rule: study->studies, watch->watches, go->goes."""
    if verb.endswith("y") and verb[-2] not in _VOWELS:
        return verb[:-1] + "ies"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    return verb + "s"


def _doubles_final_consonant(verb: str) -> bool:
    """One-syllable consonant-vowel-consonant verbs double the last letter (stop->stopped)."""
    vowel_groups = sum(1 for i, c in enumerate(verb) if c in _VOWELS and (i == 0 or verb[i - 1] not in _VOWELS))
    return (
        len(verb) >= 3 and vowel_groups == 1 and verb[-1] not in _VOWELS | {"w", "x", "y"}
        and verb[-2] in _VOWELS and verb[-3] not in _VOWELS
    )


def regular_past(verb: str) -> str:
    """Past simple of a regular verb: like->liked, study->studied, play->played, stop->stopped."""
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in _VOWELS:
        return verb[:-1] + "ied"
    if _doubles_final_consonant(verb):
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _check(verb: str, tense: int, person: int) -> None:
    if verb not in VERBS:
        raise KeyError(f"unknown verb {verb!r}; the corpus has {len(VERBS)} verbs")
    if not 0 <= tense < len(TENSES) or not 0 <= person < len(PERSONS):
        raise IndexError(f"tense {tense} / person {person} out of range")


def conjugate(verb: str, tense: int, person: int) -> str:
    """The verb form alone for (verb, tense index, person index)."""
    _check(verb, tense, person)
    name = TENSES[tense]
    if name == "infinitive":
        return f"to {verb}"
    if name == "future":
        return f"will {verb}"
    if verb == "be":
        return {"present": _BE_PRESENT[person], "past": _BE_PAST[person], "past_participle": "been"}[name]
    third, past, participle = _IRREGULAR_TABLE.get(verb, (third_singular(verb), regular_past(verb), regular_past(verb)))
    if name == "present":
        return third if person == 2 else verb
    return past if name == "past" else participle


def phrase(verb: str, tense: int, person: int) -> str:
    """Pronoun + form, with have/has before the participle; the infinitive has no subject."""
    form = conjugate(verb, tense, person)
    name = TENSES[tense]
    if name == "infinitive":
        return form
    if name == "past_participle":
        form = ("has " if person == 2 else "have ") + form
    return f"{PRONOUNS[person]} {form}"


def grid() -> list[Form]:
    """All 300 forms, ordered by verb, then tense, then person."""
    return [
        Form(v, t, p, conjugate(v, t, p), phrase(v, t, p))
        for v in VERBS
        for t in range(len(TENSES))
        for p in range(len(PERSONS))
    ]
