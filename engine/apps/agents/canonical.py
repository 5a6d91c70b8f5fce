"""The 30 canonical tutor sentences: (sentence, category, accepted corrections). An empty tuple
means "no correction expected" (already correct); None means "must be declined"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.apps.agents.loop import run_loop

CANONICAL: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("He goed to school.", "happy", ("He went to school.",)),
    ("She eated an apple.", "happy", ("She ate an apple.",)),
    ("I writed a letter.", "happy", ("I wrote a letter.",)),
    ("He comed home late.", "happy", ("He came home late.",)),
    ("You seed the movie.", "happy", ("You saw the movie.",)),
    ("She have a car.", "happy", ("She has a car.",)),
    ("He watch TV every day.", "happy", ("He watches TV every day.",)),
    ("I is tired.", "happy", ("I am tired.",)),
    ("It were cold.", "happy", ("It was cold.",)),
    ("He doed his homework.", "happy", ("He did his homework.",)),
    ("She went to the park.", "correct", ()),
    ("I have a book.", "correct", ()),
    ("He writes letters.", "correct", ()),
    ("You are my friend.", "correct", ()),
    ("It will come soon.", "correct", ()),
    ("I will going home.", "ambiguous", ("I will go home.", "I am going home.")),
    ("He go to work.", "ambiguous", ("He goes to work.", "He went to work.")),
    ("It be cold.", "ambiguous", ("It is cold.", "It was cold.")),
    ("I eats apples.", "ambiguous", ("I eat apples.", "I ate apples.")),
    ("She do her homework.", "ambiguous", ("She does her homework.", "She did her homework.")),
    ("He goed home and writed a letter.", "multi", ("He went home and wrote a letter.",)),
    ("She eated lunch and comed back.", "multi", ("She ate lunch and came back.",)),
    ("I seed it and doed nothing.", "multi", ("I saw it and did nothing.",)),
    ("He have a dog and go to the park.", "multi", ("He has a dog and goes to the park.",)),
    ("I has a cat and likes dogs.", "multi", ("I have a cat and like dogs.",)),
    ("They went home.", "out_of_scope", None),
    ("We is happy.", "out_of_scope", None),
    ("What is the capital of France?", "out_of_scope", None),
    ("Write me a poem about cats.", "out_of_scope", None),
    ("Tell me a joke.", "out_of_scope", None),
]


def graded(answer: dict, accepted: tuple[str, ...] | None) -> bool:
    """Declines must decline; already-correct sentences must come back uncorrected; the rest
    must match one accepted correction exactly."""
    if accepted is None:
        return answer.get("in_scope") is False
    if not answer.get("in_scope", False):
        return False
    if not accepted:
        return answer.get("corrected") is None
    return answer.get("corrected") in accepted


def canonical_scores(planner: Callable[..., dict[str, Any]], caps: Any) -> dict[str, float]:
    """One planner through the capped loop on the 30 sentences: the share graded right, overall and
    per category (happy, correct, ambiguous, multi, out_of_scope)."""
    per: dict[str, list[bool]] = {}
    for sentence, category, accepted in CANONICAL:
        per.setdefault(category, []).append(graded(run_loop(sentence, planner, caps).answer, accepted))
    every = [ok for oks in per.values() for ok in oks]
    return {"all": sum(every) / len(every), **{c: sum(oks) / len(oks) for c, oks in per.items()}}
