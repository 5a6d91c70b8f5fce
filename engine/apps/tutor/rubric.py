"""The capstone rubric: four binary axes per answer, weighted 0.60 / 0.25 / 0.10 / 0.05
(correctness, Spanish gloss, schema, conciseness); an exam's score is the mean of its items.

Normalization before any comparison: strip, lower-case, drop one trailing period; an axis passes
when every expected substring appears in the normalized answer. `case_sensitive=True` is the
phase's break (the lower-case step is gone): correct answers written with a capital score zero
on correctness while the schema axis stays at 1.0, which is how the breakdown points at the
evaluator and not the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.apps.agents.schemas import planner_schema, validate

WEIGHTS = {"correctness": 0.60, "spanish_gloss": 0.25, "schema": 0.10, "conciseness": 0.05}
MAX_EXPLANATION_WORDS = 30


def normalize(text: str, case_sensitive: bool = False) -> str:
    out = text.strip()
    if not case_sensitive:
        out = out.lower()
    return out[:-1] if out.endswith(".") else out


def contains_all(got: str | None, expected: Sequence[str], case_sensitive: bool = False) -> bool:
    if got is None:
        return False
    g = normalize(got, case_sensitive)
    return all(normalize(e, case_sensitive) in g for e in expected)


def weighted(axes: dict[str, float]) -> float:
    return sum(WEIGHTS[k] * float(axes[k]) for k in WEIGHTS)


@dataclass(frozen=True)
class Item:
    id: str
    prompt: str
    expected: tuple[str, ...]
    spanish: tuple[str, ...]


def _keys_and_types(schema: Any) -> Any:
    """The schema without length bounds: the rubric's schema axis is required keys and types."""
    if isinstance(schema, dict):
        return {k: _keys_and_types(v) for k, v in schema.items() if k not in ("maxLength", "minLength")}
    if isinstance(schema, list):
        return [_keys_and_types(v) for v in schema]
    return schema


def answer_schema() -> dict[str, Any]:
    """Phase 32's final-answer schema, keys and types only (its 24-character bound is the masked
    decoder's, and the scripted planner's rationales are longer)."""
    return _keys_and_types(planner_schema()["oneOf"][-1])


def grade(item: Item, answer: dict[str, Any], case_sensitive: bool = False) -> dict[str, Any]:
    """One item: the four axes, the weighted score and what was compared."""
    shown = {k: v for k, v in answer.items() if k != "mistakes"}  # what the learner sees
    words = sum(len(str(r).split()) for r in shown.get("rationale") or [])
    axes = {"correctness": float(contains_all(shown.get("corrected"), item.expected, case_sensitive)),
            "spanish_gloss": float(contains_all(shown.get("spanish_gloss"), item.spanish, case_sensitive)),
            "schema": float(not validate(shown, answer_schema())),
            "conciseness": float(words <= MAX_EXPLANATION_WORDS)}
    return {"item": item.id, "prompt": item.prompt, "expected": list(item.expected), "got": shown.get("corrected"),
            "gloss": shown.get("spanish_gloss"), "breakdown": axes, "score": weighted(axes)}
