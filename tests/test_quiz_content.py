"""Malformed quiz files give one clear error naming the file, the item and the field, and the
quiz command refuses such a quiz with exit 2 instead of grading against a broken key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _quiz_fixtures import QUIZ, write_content

from workbench.quiz import commands


def _errors(tmp_path: Path, quiz_text: str) -> list[str]:
    return write_content(tmp_path, quiz=quiz_text).errors


ITEM = "  - {id: q-03-01, kind: single, prompt: one, choices: [a, b, c], answer: 2, explanation: b is right}"


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        ("  - {id: q-03-01, kind: single, prompt: one, choices: [a, b, c], answer: 4}",
         "items[0].answer: single needs a 1-based index into 3 choices"),
        ("  - {id: q-03-01, kind: single, prompt: one, choices: [a, b, c], answer: 0}",
         "items[0].answer: single needs a 1-based index"),
        ("  - {id: q-03-01, kind: multi, prompt: one, choices: [a, b, c], answer: 2}",
         "items[0].answer: multi needs a list of 1-based indices"),
        ("  - {id: q-03-01, kind: ordering, prompt: one, choices: [a, b, c], answer: [1, 1, 2]}",
         "items[0].answer: ordering needs a permutation of 1..3"),
        ("  - {id: q-03-01, kind: free, prompt: one, answer: text}",
         "items[0].answer: free needs keywords"),
        ("  - {id: q-03-01, kind: numeric, prompt: one, answer: about four}",
         "items[0].answer: numeric needs a number"),
        ("  - {id: q-03-01, kind: conjugation, prompt: one, answer: [written, 3]}",
         "items[0].answer: conjugation needs a form"),
        ("  - {id: q-03-01, kind: essay, prompt: one, answer: 1}",
         "items[0].kind: 'essay' is not one of single,multi,free,numeric,ordering,conjugation"),
        ("  - {id: q-03-01, kind: single, choices: [a, b], answer: 1}",
         "items[0].prompt: required field is missing"),
        ("  - {id: q-03-01, kind: single, prompt: one, choices: [a, b], answer: 1, correct: 1}",
         "items[0].correct: unknown key"),
        ("  - {id: q-03-01, kind: numeric, prompt: one, answer: 1, tolerance: small}",
         "items[0].tolerance: expected a number"),
        ("  - {id: q-03-02, kind: single, prompt: one, choices: [a, b], answer: 1}",
         "items[1].id: duplicate item id 'q-03-02'"),
    ],
)
def test_bad_item_names_file_item_and_field(tmp_path: Path, replacement: str, expected: str) -> None:
    errors = _errors(tmp_path, QUIZ.replace(ITEM, replacement))
    assert len(errors) == 1, errors
    assert errors[0].startswith("quizzes/phase-03-fixture.yaml: ")
    assert expected in errors[0]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    errors = _errors(tmp_path, QUIZ.replace(ITEM, "  - {id: q-03-01, kind: single, prompt: [unclosed"))
    assert len(errors) == 1
    assert "quizzes/phase-03-fixture.yaml:" in errors[0] and "invalid YAML" in errors[0]
    assert re.search(r"\.yaml:[56]:\d+: ", errors[0])  # the broken item is on line 5; PyYAML notices on 6


def test_quiz_id_must_match_file_and_pass_mark_type(tmp_path: Path) -> None:
    errors = _errors(tmp_path, QUIZ.replace("id: phase-03-fixture", "id: phase-03-other"))
    assert errors == ["quizzes/phase-03-fixture.yaml: id: 'phase-03-other' should equal the file name 'phase-03-fixture'"]
    errors = _errors(tmp_path, QUIZ.replace("title: Fixture quiz", "title: Fixture quiz\npass_mark: high"))
    assert errors == ["quizzes/phase-03-fixture.yaml: pass_mark: expected a number, got 'high'"]


def test_quiz_command_refuses_a_broken_quiz(tmp_path: Path, workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_content(tmp_path, quiz=QUIZ.replace("answer: [3, 1, 2]", "answer: [3, 1]"))
    assert commands.quiz_command(catalog, 3, None, as_json=False, lang="en", as_of=None) == 2
    err = capsys.readouterr().err
    assert "phase-03-fixture.yaml" in err and "items[4].answer" in err and "permutation" in err
