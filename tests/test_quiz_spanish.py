"""Every shipped quiz item carries a Spanish prompt (the course is for A2 bilingual learners), and
`--lang es` shows it. The faithfulness check is cheap on purpose: numbers, `code` spans and
"quoted" English (verb forms, example sentences, UI labels) are what a translation must not
touch, because the answers and choices stay in English."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from workbench.content.loader import load_catalog
from workbench.content.schema import QuizItem
from workbench.quiz.interactive import item_text
from workbench.tui.screens.quiz import item_markup

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
CODE_SPAN = re.compile(r"`[^`]+`")
QUOTED = re.compile(r'"[^"]+"')

ITEMS = [item for quiz in load_catalog().quizzes.values() for item in quiz.items]


def _tokens(pattern: re.Pattern[str], text: str) -> set[str]:
    return set(pattern.findall(text))


def test_the_shipped_quizzes_are_all_here() -> None:
    """Guards the parametrised checks below against silently running on an empty list."""
    assert len(ITEMS) >= 294


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i.id)
def test_every_item_has_a_spanish_prompt(item: QuizItem) -> None:
    assert item.prompt_es and item.prompt_es.strip(), f"{item.id} has no prompt_es"
    assert item.prompt_es.strip() != item.prompt.strip(), f"{item.id}: prompt_es is the English prompt"


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i.id)
def test_numbers_code_and_quotes_survive_translation(item: QuizItem) -> None:
    """A dropped or altered number would change the question the English answer key grades."""
    es = item.prompt_es or ""
    for pattern in (NUMBER, CODE_SPAN, QUOTED):
        lost = _tokens(pattern, item.prompt) - _tokens(pattern, es)
        assert not lost, f"{item.id}: {sorted(lost)} missing from prompt_es"


def _sample() -> QuizItem:
    return QuizItem(id="q-99-01", kind="single", prompt="Which one?", answer=1,
                    prompt_es="¿Cuál?", choices=["a [x]", "b"])


def test_item_text_shows_spanish_when_asked() -> None:
    text = item_text(_sample(), "es")
    assert text.splitlines()[0] == "¿Cuál?"
    assert "Which one?" not in text
    assert item_text(_sample(), "en").splitlines()[0] == "Which one?"


def test_item_text_falls_back_to_english_without_prompt_es() -> None:
    item = replace(_sample(), prompt_es=None)
    assert item_text(item, "es") == item_text(item, "en")
    assert item_text(item, "es").splitlines()[0] == "Which one?"


def test_tui_markup_shows_spanish_and_falls_back() -> None:
    assert item_markup(_sample(), "es").splitlines()[0] == "¿Cuál?"
    item = replace(_sample(), prompt_es=None)
    assert item_markup(item, "es") == item_markup(item, "en")
