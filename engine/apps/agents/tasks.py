"""Tutor tasks generated from the verb table, with their gold answers, for training and testing
the model planner (phase 32).

A task is a learner's sentence and what a correct tutor answers: the corrected sentence (None
when it is already right) or a decline (out of scope). Kinds, each built from the truth table:
    regularized_past  "He goed to school."     -> "He went to school."     (irregular verbs but be)
    agreement         "She have a dog."        -> "She has a dog."         (present, wrong person)
    base_form         "He go home."            -> "He goes home."
    future_form       "I will going home."     -> "I will go home."
    correct           "She went to the park."  -> None
    out_of_scope      "They went home." (plural subject), "Tell me a joke." -> declined
The split is by sentence hash: a test sentence's text never occurs in training, and the 30
canonical sentences (engine.apps.agents.canonical) are always on the test side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from engine.apps.agents.canonical import CANONICAL
from engine.lm.text import verbs as V

SUBJECTS = (("I", 0), ("You", 1), ("He", 2), ("She", 2), ("It", 2))
PLURALS = ("They", "We")
TAILS = ("home", "to school", "to the park", "every day", "at home", "a letter", "an apple", "the movie", "a car",
         "late", "again", "with my friend")
REQUESTS = ("Tell me a joke.", "What is the capital of France?", "Write me a poem about cats.", "Sing a song.",
            "What time is it?", "Tell me a story.", "Who won the game?", "Draw a cat.", "Explain the weather.",
            "Play some music.")
REGULARIZED = {"have": "haved", "do": "doed", "go": "goed", "come": "comed", "see": "seed", "eat": "eated",
               "write": "writed"}


@dataclass(frozen=True)
class Task:
    sentence: str
    kind: str
    gold: str | None  # the corrected sentence; None: already correct, or declined when kind is out_of_scope

    @property
    def declined(self) -> bool:
        return self.kind == "out_of_scope"


def _s(subject: str, *words: str) -> str:
    return " ".join((subject, *words)) + "."


def generate() -> list[Task]:
    """Every task, in a fixed order (a few thousand)."""
    out: list[Task] = []
    for verb in V.VERBS:
        for tail_i, tail in enumerate(TAILS):
            for subj, p in SUBJECTS:
                past = V.conjugate(verb, 2, p)
                present = V.conjugate(verb, 1, p)
                if verb in REGULARIZED:
                    out.append(Task(_s(subj, REGULARIZED[verb], tail), "regularized_past", _s(subj, past, tail)))
                for q in range(3):  # a present form of another person
                    wrong = V.conjugate(verb, 1, q)
                    if wrong != present and not (verb == "be" and subj == "I" and wrong == "are"):
                        kind = "base_form" if wrong == verb else "agreement"
                        out.append(Task(_s(subj, wrong, tail), kind, _s(subj, present, tail)))
                if (tail_i + p) % 3 == 0:  # fewer of the correct and future kinds
                    out.append(Task(_s(subj, past, tail), "correct", None))
                    out.append(Task(_s(subj, present, tail), "correct", None))
                    out.append(Task(_s(subj, "will", verb + "ing" if not verb.endswith("e") else verb[:-1] + "ing",
                                       tail), "future_form", _s(subj, "will", verb, tail)))
            if tail_i % 3 == 0:
                for subj in PLURALS:
                    out.append(Task(_s(subj, V.conjugate(verb, 2, 2), tail), "out_of_scope", None))
    out += [Task(r, "out_of_scope", None) for r in REQUESTS]
    seen: set[str] = set()
    return [t for t in out if not (t.sentence in seen or seen.add(t.sentence))]  # type: ignore[func-returns-value]


def canonical_tasks() -> list[Task]:
    kinds = {"happy": "error", "correct": "correct", "ambiguous": "error", "multi": "error", "out_of_scope": "out_of_scope"}
    return [Task(s, kinds[c], acc[0] if acc else None) for s, c, acc in CANONICAL]


def _bucket(text: str, salt: str) -> float:
    return int(hashlib.sha256(f"{salt}:{text}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split(test_fraction: float = 0.2, salt: str = "phase-32") -> tuple[list[Task], list[Task]]:
    """(train, test); canonical sentences are never trained on."""
    canon = {s for s, _, _ in CANONICAL}
    train, test = [], []
    for t in generate():
        (test if t.sentence in canon or _bucket(t.sentence, salt) < test_fraction else train).append(t)
    return train, test
