"""Phase progress from evidence: not started → in progress → done, quarantined runs never count."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from _quiz_fixtures import RIGHT, fake_run, write_content

from workbench import progress
from workbench.progress import State
from workbench.quiz import attempts
from workbench.quiz.scoring import score_quiz
from workbench.store.db import connect

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _take(conn, catalog, answers) -> None:  # type: ignore[no-untyped-def]
    result = score_quiz(catalog.quizzes["phase-03-fixture"], answers)
    attempts.record(conn, result, started_at=NOW, finished_at=NOW, mode="answers", today=date(2026, 3, 1))


def test_states_follow_the_evidence(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    states = progress.phase_states(catalog, conn)
    assert len(states) == 42 and set(states.values()) == {State.NOT_STARTED}

    fake_run(conn, "r1", loss=0.2, quarantined=True, run_dir=str(tmp_path / "r1"))
    p = progress.phase_progress(catalog, conn, 3)
    assert p.state == State.IN_PROGRESS
    check = next(i for i in p.items if i.kind == "check")
    assert check.met is False and "quarantined" in check.evidence

    _take(conn, catalog, RIGHT)
    fake_run(conn, "r2", loss=0.9, quarantined=False, run_dir=str(tmp_path / "r2"), started_at="2026-01-02T00:00:00Z")
    p = progress.phase_progress(catalog, conn, 3)
    assert p.state == State.IN_PROGRESS and p.quiz_passed
    assert [g.text for g in p.gaps] == ["loss under 0.5"]
    assert "only quarantined runs" in p.gaps[0].evidence  # r1 met it, but from a dirty tree

    fake_run(conn, "r3", loss=0.3, quarantined=False, run_dir=str(tmp_path / "r3"), started_at="2026-01-03T00:00:00Z")
    p = progress.phase_progress(catalog, conn, 3)
    assert p.state == State.DONE and p.gaps == []
    assert any(i.met is None for i in p.items)  # the manual item is listed, not verified
    assert progress.phase_states(catalog, conn)[3] == State.DONE


def test_a_failed_quiz_blocks_done(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    fake_run(conn, "r1", loss=0.1, quarantined=False, run_dir=str(tmp_path / "r1"))
    _take(conn, catalog, {"q-03-01": 2})  # 1/6
    p = progress.phase_progress(catalog, conn, 3)
    assert p.state == State.IN_PROGRESS
    quiz_item = next(i for i in p.items if i.kind == "quiz")
    assert quiz_item.met is False and "17%" in quiz_item.evidence


def test_crashed_runs_do_not_count(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    fake_run(conn, "r1", loss=0.1, quarantined=False, run_dir=str(tmp_path / "r1"), status="crashed")
    _take(conn, catalog, RIGHT)
    assert progress.phase_progress(catalog, conn, 3).state == State.IN_PROGRESS


def test_quiz_only_phase_and_due_count(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    _take(conn, catalog, {**RIGHT, "q-03-01": 1})
    assert progress.phase_progress(catalog, conn, 3).state == State.IN_PROGRESS
    assert progress.due_count(conn, date(2026, 3, 1)) == 0
    assert progress.due_count(conn, date(2026, 3, 2)) == 1
