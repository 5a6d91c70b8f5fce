"""The §A13 verb corpus: size, rule-generated forms, irregular table, phrase uniqueness."""

from __future__ import annotations

import pytest

from engine.lm.text.verbs import (
    IRREGULAR,
    REGULAR,
    TENSES,
    VERBS,
    conjugate,
    grid,
    phrase,
    regular_past,
    third_singular,
)


def test_grid_shape() -> None:
    g = grid()
    assert len(VERBS) == 20 and len(REGULAR) == 12 and len(IRREGULAR) == 8
    assert len(g) == 300 and len(TENSES) == 5
    assert (g[0].verb, g[0].tense, g[0].person) == ("work", 0, 0)


def test_course_example_row_for_work() -> None:
    assert [conjugate("work", t, 2) for t in range(5)] == ["to work", "works", "worked", "worked", "will work"]


@pytest.mark.parametrize(("verb", "third", "past"), [
    ("study", "studies", "studied"), ("watch", "watches", "watched"), ("finish", "finishes", "finished"),
    ("play", "plays", "played"), ("like", "likes", "liked"), ("listen", "listens", "listened"),
    ("stop", "stops", "stopped"), ("look", "looks", "looked"),
])
def test_spelling_rules(verb: str, third: str, past: str) -> None:
    assert third_singular(verb) == third and regular_past(verb) == past


def test_irregulars() -> None:
    assert [conjugate("be", 1, p) for p in range(3)] == ["am", "are", "is"]
    assert [conjugate("be", 2, p) for p in range(3)] == ["was", "were", "was"]
    assert conjugate("go", 2, 0) == "went" and conjugate("go", 3, 0) == "gone" and conjugate("go", 1, 2) == "goes"
    assert conjugate("have", 1, 2) == "has" and conjugate("do", 1, 2) == "does"
    assert conjugate("write", 3, 1) == "written" and conjugate("come", 3, 1) == "come"


def test_phrases_determine_tense() -> None:
    """Bare forms are ambiguous (worked = past or participle); phrases are not."""
    assert phrase("work", 3, 2) == "he has worked" and phrase("work", 2, 0) == "I worked"
    tense_of: dict[str, int] = {}
    for f in grid():
        assert tense_of.setdefault(f.phrase, f.tense) == f.tense
    bare: dict[tuple[int, str], set[int]] = {}
    for f in grid():
        bare.setdefault((f.person, f.text), set()).add(f.tense)
    assert any(len(ts) > 1 for ts in bare.values())
    with pytest.raises(KeyError):
        conjugate("swim", 0, 0)
