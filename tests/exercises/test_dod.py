"""The Definition-of-Done rule for exercise labs: only a finished run of the learner's code counts;
a reference run meeting the item is listed as a demonstration. Labs without an exercise are unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.content import load_catalog
from workbench.progress import phase_progress
from workbench.store import connect
from workbench.store.runs import record_run


def _manifest(run_id: str, target: str, impl: str | None, value: float, dirty: bool = False) -> dict[str, Any]:
    lab = target.split("/")[1]
    m: dict[str, Any] = {
        "id": run_id, "status": "passed", "quarantined": dirty, "started_at": run_id[:16], "finished_at": run_id[:16],
        "wall_seconds": 1.0, "config_hash": "0" * 16, "target": {"name": target, "kind": "lab", "phase": 7, "lab": lab, "title": "t"},
        "checks": [], "results_summary": {"diamond_a_grad": value, "final_loss": 0.1, "gradcheck_ok": True},
    }
    if impl:
        m["impl"] = impl
    return m


def _item(conn: Any, text: str) -> Any:
    return next(i for i in phase_progress(load_catalog(), conn, 7).items if text in i.text)


def test_reference_runs_are_a_demonstration_learner_runs_count(tmp_path: Path) -> None:
    conn = connect(tmp_path / "wb.db")
    record_run(conn, _manifest("20260101T000001Z-a", "phase-07/lab-01", "reference", 4.0), str(tmp_path))
    record_run(conn, _manifest("20260101T000002Z-b", "phase-07/lab-01", None, 4.0), str(tmp_path))  # an old manifest: reference
    item = _item(conn, "diamond gives")
    assert item.met is False and "20260101T000002Z-b is a reference run (demonstration)" in item.evidence
    record_run(conn, _manifest("20260101T000003Z-c", "phase-07/lab-01", "learner", 2.0), str(tmp_path))
    item = _item(conn, "diamond gives")
    assert item.met is False and "want diamond_a_grad == 4.0" in item.evidence  # their run, their wrong number
    record_run(conn, _manifest("20260101T000004Z-d", "phase-07/lab-01", "learner", 4.0, dirty=True), str(tmp_path))
    assert _item(conn, "diamond gives").met is False  # quarantined like any run
    record_run(conn, _manifest("20260101T000005Z-e", "phase-07/lab-01", "learner", 4.0), str(tmp_path))
    item = _item(conn, "diamond gives")
    assert item.met is True and "20260101T000005Z-e" in item.evidence
    rows = phase_progress(load_catalog(), conn, 7).exercises
    assert [r["target"] for r in rows] == ["phase-07/lab-01", "phase-07/lab-02", "phase-07/lab-03"]
    assert rows[0]["learner_passed"] and not rows[1]["learner_passed"]
    conn.close()


def test_report_section_lists_exercises_with_their_flags(tmp_path: Path) -> None:
    from workbench.progress.report import _exercise_section

    conn = connect(tmp_path / "wb.db")
    record_run(conn, _manifest("20260101T000005Z-e", "phase-07/lab-01", "learner", 4.0), str(tmp_path))
    prog = phase_progress(load_catalog(), conn, 7)
    conn.close()
    prog.exercises[0]["solution_before_attempt"] = True
    text = "\n".join(_exercise_section(prog))
    assert "## Exercises (your code)" in text
    assert "- [x] phase-07/lab-01 Ops and the diamond: done by you (hints 0/3, solution seen before attempt)" in text
    assert "- [ ] phase-07/lab-02" in text and "only a passing run of your code counts" in text
