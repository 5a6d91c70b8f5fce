"""The four phase-31 tools, answered from the §A13 truth table (engine.lm.text.verbs / engine.lm.text.spanish).

No form is written here by hand: every lookup table below is built from `grid()` and the
Spanish conjugator at import. Tenses and persons use the phase-30 schema names.
"""

from __future__ import annotations

from typing import Any

from engine.apps.structured.schema import PERSON_ENUM, TENSE_ENUM
from engine.apps.tools.base import ToolError, register
from engine.lm.text.spanish import PRONOUNS_ES, spanish_form
from engine.lm.text.verbs import IRREGULAR, TENSES, VERBS, grid
from engine.lm.text.verbs import conjugate as _conjugate

PRONOUN_PERSON = {"i": 0, "you": 1, "he": 2, "she": 2, "it": 2}
PLURAL = {"we", "they", "you all"}
_SPANISH_TENSE = {"infinitive": "infinitive", "present": "present_simple", "past": "past_simple",
                  "past_participle": "past_participle", "future": "future_will"}


def _bare(form: str) -> str:
    return form.removeprefix("to ")


def _spanish_3sg(verb: str, tense: str) -> str:
    text = spanish_form(verb, _SPANISH_TENSE[tense], 2)
    head, _, rest = text.partition(" ")
    return rest if head in PRONOUNS_ES and rest else text


def _english_to_spanish() -> dict[str, str]:
    """English form -> Spanish third-person form. First writer wins, in the order infinitive,
    present, past, participle, future, third person before the others (so "worked" is the past)."""
    out: dict[str, str] = {}
    for tense in ("infinitive", "present", "past", "past_participle", "future"):
        for person in (2, 0, 1):
            for v in VERBS:
                out.setdefault(_bare(_conjugate(v, TENSES.index(tense), person)), _spanish_3sg(v, tense))
    return out


SPANISH = _english_to_spanish()
PRESENT_OF = {(_conjugate(f.verb, f.tense, f.person)): f.verb for f in grid() if TENSES[f.tense] == "present"}
PAST_OF_BE = {"was", "were"}


@register("conjugate", "Conjugate one of the 20 course verbs: verb lemma, tense and person (1sg/2sg/3sg) give the "
          "English form, e.g. eat, past_simple, 3sg gives ate.",
          {"type": "object", "additionalProperties": False, "required": ["verb", "tense", "person"],
           "properties": {"verb": {"type": "string", "enum": list(VERBS)},
                          "tense": {"type": "string", "enum": list(TENSE_ENUM)},
                          "person": {"type": "string", "enum": list(PERSON_ENUM)}}})
def conjugate(verb: str, tense: str, person: str) -> str:
    if verb not in VERBS:
        raise ToolError(f"verb {verb!r} is out of scope (the course's 20 verbs)")
    if tense not in TENSE_ENUM or person not in PERSON_ENUM:
        raise ToolError(f"unknown tense {tense!r} or person {person!r}")
    return _conjugate(verb, TENSE_ENUM.index(tense), PERSON_ENUM.index(person))


@register("lookup_irregular_verb", "Principal parts of an irregular course verb, or is_irregular false for a "
          "regular one.",
          {"type": "object", "additionalProperties": False, "required": ["verb"],
           "properties": {"verb": {"type": "string", "maxLength": 20}}})
def lookup_irregular_verb(verb: str) -> dict[str, Any]:
    if verb not in VERBS:
        raise ToolError(f"verb {verb!r} is out of scope (the course's 20 verbs)")
    if verb not in IRREGULAR:
        return {"is_irregular": False}
    return {"infinitive": verb, "past_simple": _conjugate(verb, 2, 2), "past_participle": _conjugate(verb, 3, 2),
            "is_irregular": True}


@register("lookup_spanish", "Spanish for an English form of a course verb, in the third person singular where "
          "the English form does not fix the person (ate gives comió).",
          {"type": "object", "additionalProperties": False, "required": ["english_form"],
           "properties": {"english_form": {"type": "string", "maxLength": 20}}})
def lookup_spanish(english_form: str) -> str:
    key = _bare(english_form.strip().lower())
    if key not in SPANISH:
        raise ToolError(f"{english_form!r} is not a form of the course's 20 verbs")
    return SPANISH[key]


@register("check_subject_verb_agreement", "Whether a singular pronoun (I, you, he, she, it) agrees with a present "
          "form (or was/were); plural subjects are out of scope.",
          {"type": "object", "additionalProperties": False, "required": ["subject", "verb_form"],
           "properties": {"subject": {"type": "string", "enum": ["i", "you", "he", "she", "it", "we", "they"]},
                          "verb_form": {"type": "string", "maxLength": 20}}})
def check_subject_verb_agreement(subject: str, verb_form: str) -> dict[str, Any]:
    s, form = subject.strip().lower(), verb_form.strip().lower()
    if s in PLURAL:
        raise ToolError(f"plural subject {subject!r} is out of scope (singular persons only)")
    if s not in PRONOUN_PERSON:
        raise ToolError(f"subject {subject!r} is not a pronoun the tool knows")
    person = PRONOUN_PERSON[s]
    if form in PAST_OF_BE:
        expected = _conjugate("be", 2, person)
    elif form in PRESENT_OF:
        expected = _conjugate(PRESENT_OF[form], 1, person)
    else:
        raise ToolError(f"{verb_form!r} is not a present form (or was/were) of the course's verbs")
    return {"agrees": form == expected, "expected_form": None if form == expected else expected}
