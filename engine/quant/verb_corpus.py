"""Character-level sentences over the §A13 verbs, for the small LM that phases 26 and 28 quantize and tune.

Every sentence names the lemma first and then a time marker that fixes the tense, so the verb
form is predictable from the prefix:  "go: tomorrow he will go at home."

    infinitive       "now <pron> have/has to <lemma>"
    present          "every day <pron> <present form>"
    past             "yesterday <pron> <past form>"
    past_participle  "so far <pron> have/has <participle>"
    future           "tomorrow <pron> will <lemma>"

The *base* corpus (what the model is pre-trained on) leaves out the past and participle
sentences of the eight irregular verbs: the pre-trained model has only ever seen -ed pasts, so
it regularises ("goed"). That gap is what phase 28's LoRA adapter fixes; phase 26 measures the
model only on what it was trained for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine.text.verbs import IRREGULAR, PRONOUNS, REGULAR, TENSES, VERBS, conjugate, regular_past

CHARS = "\n :.abcdefghijklmnopqrstuvwxyz"
PAD = 0  # the newline doubles as begin/end marker; pad positions are masked out of the loss
VOCAB_SIZE = 64  # padded to the course's |V| = 64 (unused ids are never produced by the data)
STOI = {c: i for i, c in enumerate(CHARS)}
MARKERS = {"infinitive": "now", "present": "every day", "past": "yesterday",
           "past_participle": "so far", "future": "tomorrow"}
TAILS = ("", " at home", " again", " with me", " a lot", " there", " today", " with friends")
PAST_TENSES = ("past", "past_participle")


@dataclass(frozen=True)
class Sentence:
    verb: str
    tense: str
    person: int
    tail: str
    prefix: str  # everything up to and including the pronoun
    phrase: str  # the verb phrase that the tense decides

    @property
    def text(self) -> str:
        return f"{self.prefix} {self.phrase}{self.tail}."


def pronoun(person: int) -> str:
    return PRONOUNS[person].lower()


def verb_phrase(verb: str, tense: str, person: int, form: str | None = None) -> str:
    """The tense-bearing words after the pronoun; `form` overrides the main verb form."""
    aux = "has" if person == 2 else "have"
    t = TENSES.index(tense)
    if tense == "infinitive":
        return f"{aux} to {verb}"
    if tense == "future":
        return f"will {verb}"
    word = form if form is not None else conjugate(verb, t, person)
    return f"{aux} {word}" if tense == "past_participle" else word


def make(verb: str, tense: str, person: int, tail: str = "", form: str | None = None) -> Sentence:
    prefix = f"{verb}: {MARKERS[tense]} {pronoun(person)}"
    return Sentence(verb, tense, person, tail, prefix, verb_phrase(verb, tense, person, form))


def all_sentences() -> list[Sentence]:
    return [make(v, t, p, tail) for v in VERBS for t in TENSES for p in range(3) for tail in TAILS]


def in_base_domain(s: Sentence) -> bool:
    return not (s.verb in IRREGULAR and s.tense in PAST_TENSES)


def _bucket(s: Sentence, salt: str) -> int:
    key = f"{salt}|{s.verb}|{s.tense}|{s.person}|{s.tail}".encode()
    return int(hashlib.sha256(key).hexdigest()[:8], 16) % 10


def base_split() -> tuple[list[Sentence], list[Sentence]]:
    """(train, eval) of the base corpus; eval is a fixed 10 % by hash, the same everywhere."""
    base = [s for s in all_sentences() if in_base_domain(s)]
    return [s for s in base if _bucket(s, "base") != 0], [s for s in base if _bucket(s, "base") == 0]


def irregular_split() -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Irregular past / participle sentences split 80/10/10 (train, val, test) by hash."""
    irr = [s for s in all_sentences() if not in_base_domain(s)]
    return ([s for s in irr if _bucket(s, "irr") < 8], [s for s in irr if _bucket(s, "irr") == 8],
            [s for s in irr if _bucket(s, "irr") == 9])


def control_set() -> list[Sentence]:
    """Regular-verb sentences from the base eval split: the control that fine-tuning must not move."""
    return [s for s in base_split()[1] if s.verb in REGULAR]


def regularised(verb: str, tense: str, person: int) -> str:
    """The over-regularised verb phrase a model that only knows -ed would write ("goed")."""
    wrong = regular_past(verb)
    return verb_phrase(verb, tense, person, form=wrong)


def encode(text: str) -> list[int]:
    return [STOI[c] for c in text]


def decode(ids: list[int]) -> str:
    return "".join(CHARS[i] for i in ids if i < len(CHARS))
