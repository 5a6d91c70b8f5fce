"""The quiz and review commands end to end: grade from an answers file, store, seed cards, and walk
a card through its SM-2 intervals with --as-of."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from _quiz_fixtures import RIGHT, right_answer, write_content
from conftest import run_cli

from workbench.content import load_catalog
from workbench.quiz import commands
from workbench.store.db import connect


@pytest.fixture(autouse=True)
def fixed_width_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at the terminal's width: a long temp path in a message would split a line."""
    monkeypatch.setenv("COLUMNS", "400")


def test_quiz_7_from_answers_file_is_graded_and_stored(workspace: Path) -> None:
    catalog = load_catalog()
    quiz = commands.find_quiz(catalog, 7)
    answers = {item.id: right_answer(item) for item in quiz.items}
    wrong_id = quiz.items[0].id
    answers[wrong_id] = "no idea"
    path = workspace / "answers.yaml"
    path.write_text(yaml.safe_dump(answers, allow_unicode=True), encoding="utf-8")
    proc = run_cli("quiz", "7", "--answers", str(path), "--json", home=workspace)
    assert proc.returncode in (0, 1), proc.stderr
    out = json.loads(proc.stdout)
    assert out["quiz"] == quiz.id and out["total"] == len(quiz.items)
    assert out["correct"] == len(quiz.items) - 1
    assert [i["item_id"] for i in out["items"] if not i["correct"]] == [wrong_id]
    assert out["passed"] == (out["score"] >= quiz.pass_mark)
    conn = connect(workspace / "workbench.db")
    assert conn.execute("SELECT COUNT(*) FROM quiz_attempts").fetchone()[0] == 1
    assert conn.execute("SELECT item_id FROM review_cards").fetchall()[0][0] == wrong_id


def test_every_shipped_quiz_is_answerable_from_its_key() -> None:
    """Each item's key, typed as a learner would, grades right (catches keys the graders cannot read)."""
    from workbench.quiz.scoring import score_quiz

    catalog = load_catalog()
    for quiz in catalog.quizzes.values():
        result = score_quiz(quiz, {item.id: right_answer(item) for item in quiz.items})
        assert result.wrong == [], f"{quiz.id}: {result.wrong}"


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return json.loads(capsys.readouterr().out)


def test_review_walks_a_card_through_its_intervals(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_content(tmp_path / "content")
    answers = workspace / "a.yaml"
    answers.write_text(yaml.safe_dump({**RIGHT, "q-03-06": "wrote"}), encoding="utf-8")
    assert commands.quiz_command(catalog, 3, answers, as_json=True, lang="en", as_of="2026-05-22") == 0
    capsys.readouterr()

    assert commands.review_command(catalog, as_of="2026-05-22", grades="4", limit=30, as_json=True) == 0
    assert _json_out(capsys)["reviewed"] == []  # not due before tomorrow

    day, seen = "2026-05-23", []
    for _ in range(6):
        assert commands.review_command(catalog, as_of=day, grades="good", limit=30, as_json=True) == 0
        (done,) = _json_out(capsys)["reviewed"]
        seen.append((done["interval"], done["due"]))
        day = done["due"]
    assert seen == [(1, "2026-05-24"), (6, "2026-05-30"), (15, "2026-06-14"), (38, "2026-07-22"),
                    (95, "2026-10-25"), (238, "2027-06-20")]

    assert commands.review_command(catalog, as_of=day, grades="again", limit=30, as_json=True) == 0
    (lapse,) = _json_out(capsys)["reviewed"]
    assert (lapse["interval"], lapse["repetitions"], lapse["ease"], lapse["due"]) == (0, 0, 1.7, day)  # relearn today

    # Again then Good in one session: the lapsed card comes back after the others, and passing it gives 1 day
    assert commands.review_command(catalog, as_of=day, grades="good", limit=30, as_json=True) == 0
    (relearned,) = _json_out(capsys)["reviewed"]
    assert (relearned["interval"], relearned["repetitions"], relearned["ease"]) == (1, 1, 1.7)
    assert commands.review_command(catalog, as_of="2027-06-21", grades="again good", limit=30, as_json=True) == 0
    assert [r["interval"] for r in _json_out(capsys)["reviewed"]] == [0, 1]  # one session: lapse, then relearned


def test_review_rejects_bad_grades_and_dates(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_content(tmp_path / "content")
    assert commands.review_command(catalog, as_of="2026-13-01", grades=None, limit=30, as_json=False) == 2
    assert commands.review_command(catalog, as_of=None, grades="4,meh", limit=30, as_json=False) == 2
    assert "meh" in capsys.readouterr().err


def test_quiz_below_pass_mark_exits_1_and_unknown_ids_exit_2(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_content(tmp_path / "content")
    answers = workspace / "a.yaml"
    answers.write_text("q-03-01: 1\n", encoding="utf-8")
    assert commands.quiz_command(catalog, 3, answers, as_json=False, lang="en", as_of=None) == 1
    assert "below the pass mark" in capsys.readouterr().out
    answers.write_text("q-03-01: 2\nq-99-99: 1\n", encoding="utf-8")
    assert commands.quiz_command(catalog, 3, answers, as_json=False, lang="en", as_of=None) == 2
    assert "q-99-99: no such item in phase-03-fixture" in capsys.readouterr().err
    assert commands.quiz_command(catalog, 12, answers, as_json=False, lang="en", as_of=None) == 2


def test_interactive_quiz_reads_stdin(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import io

    catalog = write_content(tmp_path / "content")
    typed = ["2", "1 3", "they accumulate", "0.001", "3,1,2", "wrote"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(typed) + "\n"))
    assert commands.quiz_command(catalog, 3, None, as_json=False, lang="en", as_of=None) == 0
    out = capsys.readouterr().out
    assert "score 83%" in out and "expected: written" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("2\n"))  # input ends early: nothing stored
    assert commands.quiz_command(catalog, 3, None, as_json=False, lang="en", as_of=None) == 3
    conn = connect(workspace / "workbench.db")
    assert conn.execute("SELECT COUNT(*) FROM quiz_attempts").fetchone()[0] == 1


def test_progress_and_report_commands(workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = write_content(tmp_path / "content")
    assert commands.report_command(catalog, 3) == 1
    assert "no attempt at phase-03-fixture" in capsys.readouterr().err
    answers = workspace / "a.yaml"
    answers.write_text(yaml.safe_dump(RIGHT), encoding="utf-8")
    commands.quiz_command(catalog, 3, answers, as_json=True, lang="en", as_of=None)
    capsys.readouterr()
    assert commands.progress_command(catalog, None, as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    states = {p["phase"]: p["state"] for p in data["phases"]}
    assert states[3] == "in_progress" and states[0] == "not_started" and len(states) == 42
    assert commands.progress_command(catalog, None, as_json=False) == 0
    assert "03◐" in capsys.readouterr().out
    assert commands.report_command(catalog, 3) == 0
    assert (workspace / "PHASE_03_REPORT.md").read_text(encoding="utf-8").startswith("# Phase 03 report")
