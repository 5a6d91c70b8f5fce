"""Sentences labelled with the phase-30 conjugation JSON, generated from the verb table, with a
held-out split whose sentences never appear in training.

Each sentence puts one course verb in one of the five schema tenses with a subject of known
person and a tail that fits the tense ("yesterday" only in the past):
    present_simple   She plays the piano every Sunday.
    past_simple      He listened to the radio yesterday.
    past_participle  I have written a long letter already.      (perfect: have/has + participle)
    simple_future    I will study tomorrow.
    infinitive       You need to finish the report.              (the course verb is the infinitive
                                                                  after a verb outside the 20)
The label is {"verb", "tense", "person", "spanish"}: spanish is the Spanish form for that cell
without its pronoun ("escribió", "ha escrito", "le gusta"), from engine.lm.text.spanish.

The split is by sentence: every sentence is hashed with a salt and a fraction goes to the test
side, so a test sentence's exact text is never trained on, while its verb, tense and person
occur in training with other subjects and tails (the task is to read the sentence, not recall
it). The last tail of each tense (TEST_ONLY_TAILS) is never trained on: `held_out_tails` is
that slice of the test set, sentences whose whole ending the model has not seen.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from engine.apps.structured.schema import PERSON_ENUM, TENSE_ENUM
from engine.lm.text import verbs as V
from engine.lm.text.spanish import GUSTAR_CLITICS, PRONOUNS_ES, SPANISH, spanish_form

SUBJECTS: dict[str, tuple[str, ...]] = {"1sg": ("I",), "2sg": ("You",), "3sg": ("He", "She", "My sister", "Tom")}
INFINITIVE_FRAMES = ("need", "hope", "plan")  # verbs outside the course's 20, so the course verb is the infinitive
TAILS: dict[str, tuple[str, ...]] = {
    "present_simple": ("every day", "on Sundays", "at home", "in the morning"),
    "past_simple": ("yesterday", "last week", "at home", "in the morning"),
    "past_participle": ("already", "before", "at home", "this week"),
    "simple_future": ("tomorrow", "next week", "at home", "in the morning"),
    "infinitive": ("today", "soon", "at home", "in the morning"),
}
OBJECTS: dict[str, tuple[str, ...]] = {
    "work": ("at the office", "hard"), "play": ("the piano", "football"), "walk": ("to school", "in the park"),
    "talk": ("to my friend", "a lot"), "listen": ("to the radio", "to music"), "watch": ("TV", "a film"),
    "study": ("English", "for the exam"), "finish": ("the report", "the book"), "start": ("the car", "a new job"),
    "look": ("at the map", "for my keys"), "want": ("a coffee", "a new bike"), "like": ("the song", "pizza"),
    "be": ("happy", "at school"), "have": ("a dog", "lunch"), "do": ("the homework", "the dishes"),
    "go": ("home", "to the park"), "come": ("home", "to the party"), "see": ("the sea", "a bird"),
    "eat": ("an apple", "pizza"), "write": ("a long letter", "an email"),
}
TEST_ONLY_TAILS = frozenset(t[-1] for t in TAILS.values())
HABER = ("he", "has", "ha")
SPANISH_SURFACE = {"infinitive": "infinitive", "present_simple": "present_simple", "past_simple": "past_simple",
                   "simple_future": "future_will"}


@dataclass(frozen=True)
class Labelled:
    sentence: str
    verb: str
    tense: str  # schema name (TENSE_ENUM)
    person: str  # "1sg" | "2sg" | "3sg"
    spanish: str
    tail: str

    def label(self, with_spanish: bool = True) -> dict[str, str]:
        out = {"verb": self.verb, "tense": self.tense, "person": self.person}
        return {**out, "spanish": self.spanish} if with_spanish else out

    def target(self, with_spanish: bool = True) -> str:
        """The minified document in schema key order: what the mask may generate."""
        return json.dumps(self.label(with_spanish), separators=(",", ":"), ensure_ascii=False)


def spanish_label(verb: str, tense: str, person: int) -> str:
    """The Spanish form without its subject pronoun; the perfect is haber + participle."""
    if tense == "past_participle":
        if SPANISH[verb].lemma == "gustar":  # the clitic marks the person, haber agrees with the liked thing
            return f"{GUSTAR_CLITICS[person]} ha gustado"
        return f"{HABER[person]} {spanish_form(verb, 'past_participle', person)}"
    text = spanish_form(verb, SPANISH_SURFACE[tense], person)
    head, _, rest = text.partition(" ")
    return rest if head in PRONOUNS_ES and rest else text


def _english(verb: str, tense: str, person: int, subject: str, frame: str) -> str:
    ti = TENSE_ENUM.index(tense)
    if tense == "infinitive":
        head = frame + ("s" if person == 2 else "")
        return f"{subject} {head} to {verb}"
    if tense == "past_participle":
        return f"{subject} {'has' if person == 2 else 'have'} {V.conjugate(verb, ti, person)}"
    if verb == "be" and tense in ("present_simple", "past_simple") and subject == "I":
        return f"I {V.conjugate(verb, ti, 0)}"
    return f"{subject} {V.conjugate(verb, ti, person)}"


def all_sentences() -> list[Labelled]:
    """Every (verb, tense, person, subject, tail) sentence, in a fixed order (about 5,000)."""
    out: list[Labelled] = []
    for verb in V.VERBS:
        for tense in TENSE_ENUM:
            for pi, person in enumerate(PERSON_ENUM):
                spanish = spanish_label(verb, tense, pi)
                for si, subject in enumerate(SUBJECTS[person]):
                    tails = [f"{o} {t}" for o in OBJECTS[verb] for t in TAILS[tense][:2]] + list(TAILS[tense][2:])
                    for k, tail in enumerate(tails):
                        frame = INFINITIVE_FRAMES[(si + k) % len(INFINITIVE_FRAMES)]
                        text = f"{_english(verb, tense, pi, subject, frame)} {tail}."
                        out.append(Labelled(text, verb, tense, person, spanish, tail))
    return out


def _bucket(text: str, salt: str) -> float:
    return int(hashlib.sha256(f"{salt}:{text}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split(test_fraction: float = 0.2, salt: str = "phase-30") -> tuple[list[Labelled], list[Labelled]]:
    """(train, test) by sentence; no test sentence's text occurs in train."""
    train, test = [], []
    for s in all_sentences():
        (test if s.tail in TEST_ONLY_TAILS or _bucket(s.sentence, salt) < test_fraction else train).append(s)
    seen = {s.sentence for s in train}
    return train, [s for s in test if s.sentence not in seen]


def held_out_tails(train: list[Labelled], test: list[Labelled]) -> list[Labelled]:
    seen = {s.tail for s in train}
    return [s for s in test if s.tail not in seen]


def content_correct(doc: Any, item: Labelled) -> bool:
    """Right verb, tense and person (the spanish field is scored apart)."""
    return isinstance(doc, dict) and all(doc.get(k) == v for k, v in item.label(False).items())
