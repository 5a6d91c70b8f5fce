"""PHASE_NN_REPORT.md: refused without a passing quiz; otherwise cites runs, numbers, charts and the score."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from _quiz_fixtures import PHASE, RIGHT, fake_run, right_answer, write_content

from workbench.quiz import attempts
from workbench.progress.report import ReportRefused, build_report
from workbench.quiz.scoring import score_quiz
from workbench.store.db import connect

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _take(conn, catalog, answers) -> None:  # type: ignore[no-untyped-def]
    result = score_quiz(catalog.quizzes["phase-03-fixture"], answers)
    attempts.record(conn, result, started_at=NOW, finished_at=NOW, mode="answers", today=date(2026, 3, 1))


def test_refused_without_attempt_and_below_pass_mark(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    with pytest.raises(ReportRefused, match="no attempt"):
        build_report(catalog, conn, 3, tmp_path)
    _take(conn, catalog, {"q-03-01": 2, "q-03-02": "1 3"})  # 2/6 = 33%
    with pytest.raises(ReportRefused, match="33%, below the pass mark 70%"):
        build_report(catalog, conn, 3, tmp_path)
    with pytest.raises(ReportRefused, match="no phase 09"):
        build_report(catalog, conn, 9, tmp_path)


def test_report_cites_runs_numbers_charts_and_score(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    _take(conn, catalog, {"q-03-01": 1})
    _take(conn, catalog, {**RIGHT, "q-03-04": "2"})  # 5/6 passes; the best attempt is cited
    runs_dir = tmp_path / "runs"
    fake_run(conn, "20260101-dirty", loss=0.1, quarantined=True, run_dir=str(runs_dir / "a"))
    fake_run(conn, "20260102-clean", loss=0.25, quarantined=False, run_dir=str(runs_dir / "b"), started_at="2026-01-02T00:00:00Z")
    report = build_report(catalog, conn, 3, tmp_path, now=NOW)
    assert report.path == tmp_path / "PHASE_03_REPORT.md"
    text = report.text
    assert "**83%** (5/6), pass mark 70%" in text
    assert "items missed in that attempt: q-03-04" in text
    assert "run `20260102-clean`" in text and "20260101-dirty" not in text.split("## Runs")[1]
    assert "| loss | 0.25 |" in text
    assert "(runs/b/charts/00-loss.png)" in text
    assert "- [x] loss under 0.5 — 20260102-clean: loss = 0.25" in text
    assert "Status: **done**" in text


def test_report_refused_when_ready_labs_never_ran(tmp_path: Path) -> None:
    phase = PHASE.replace(
        "{id: lab-00, title: A lab, status: planned}",
        "{id: lab-00, title: A lab, entry: 'engine.labs.p00_foundations:manifest_recipe'}",
    )
    catalog = write_content(tmp_path / "content", phase=phase)
    assert not catalog.errors, catalog.errors
    conn = connect(tmp_path / "wb.db")
    _take(conn, catalog, RIGHT)
    with pytest.raises(ReportRefused, match="no runs of phase-03 yet"):
        build_report(catalog, conn, 3, tmp_path)


def test_phase_00_end_to_end_report(workspace: Path) -> None:
    """The real pipeline: a Phase 00 lab run (runner → manifest → index), the quiz from an answers file,
    the report. One lab keeps it quick; the report code is the same for five."""
    from conftest import run_cli

    proc = run_cli("report", "0", home=workspace)
    assert proc.returncode == 1 and "no attempt" in proc.stderr
    run = run_cli("run", "phase-00/lab-02", "--quick", home=workspace)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    import yaml

    from workbench.content import load_catalog
    from workbench.progress import quiz_for_phase

    quiz_00 = quiz_for_phase(load_catalog(), 0)
    assert quiz_00 is not None
    answers = workspace / "answers.yaml"
    answers.write_text(yaml.safe_dump({item.id: right_answer(item) for item in quiz_00.items}), encoding="utf-8")
    quiz = run_cli("quiz", "0", "--answers", str(answers), home=workspace)
    assert quiz.returncode == 0, quiz.stdout + quiz.stderr
    rep = run_cli("report", "0", home=workspace)
    assert rep.returncode == 0, rep.stderr
    text = (workspace / "PHASE_00_REPORT.md").read_text(encoding="utf-8")
    n = len(quiz_00.items)
    assert f"**100%** ({n}/{n})" in text
    assert "### phase-00/lab-02" in text
    assert "| cases_correct | 5 |" in text
    assert "charts/" in text and ".png)" in text  # chart paths cited
    assert "no finished run of phase-00/lab-01 yet" in text  # lab-01 never ran: an open DoD item
