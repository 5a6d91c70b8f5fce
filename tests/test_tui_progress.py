"""Phase progress, the DoD checklist and manual ticks — plus the fixed fake workspace the TUI tests share.

The fakes (`fake_catalog`, `fill_store`) are built from literal data with fixed run ids and
times, so the snapshot tests never depend on the clock or on content other people edit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from workbench.content.loader import Catalog, resolve_chapters
from workbench.content.schema import Experiment, Phase, build

PHASE_00 = {
    "id": 0,
    "slug": "demo",
    "title": "Demo phase for the TUI tests",
    "goal": "Exercise every part of the phase screen with fixed content.",
    "requires": [],
    "teaches": ["charts", "checks"],
    "chapters": [
        {"kind": "theory", "id": "00-why", "title": "Why a demo", "summary": "Fixed words, so snapshots stay put."},
        {"kind": "lab", "id": "lab-01", "summary": "A synthetic curve."},
        {"kind": "lab", "id": "lab-02", "summary": "Ticked by hand."},
    ],
    "labs": [
        {
            "id": "lab-01",
            "title": "Synthetic stream",
            "summary": "A decaying loss and a rising accuracy, logged fast.",
            "entry": "engine.labs.selftest:stream",
            "config": {"rate": 200, "seconds": 1},
            "charts": [
                {"title": "loss", "x": "step", "y": ["loss"], "logy": True},
                {"title": "accuracy", "x": "step", "y": ["acc"]},
            ],
            "checks": [{"metric": "final_loss", "op": "<", "value": 0.1}, {"metric": "events", "op": ">=", "value": 100, "hard": False}],
        },
        {"id": "lab-02", "title": "Hand exercise", "summary": "Done by hand.", "needs": ["manual"]},
    ],
    "breaks": [{"id": "break-00", "lab": "lab-01", "title": "No decay", "fault": "flat", "expect": [{"metric": "final_loss", "op": ">", "value": 1}]}],
    "done_when": [
        {"text": "The stream ends under 0.1 loss", "check": {"lab": "lab-01", "metric": "final_loss", "op": "<", "value": 0.1}},
        {"text": "Journal entry written", "manual": True},
        {"text": "Quiz passed", "quiz": True},
    ],
}
PHASE_01 = {"id": 1, "slug": "next", "title": "The phase after", "goal": "Comes next.", "requires": [0],
            "labs": [{"id": "lab-01", "title": "Later", "entry": "engine.labs.selftest:empty"}]}
STREAM = {"id": "selftest-stream", "title": "Runner self-test — a fast metric stream", "summary": "200 events a second.",
          "entry": "engine.labs.selftest:stream", "config": {"rate": 200, "seconds": 5}, "quick": {"seconds": 1},
          "charts": [{"title": "synthetic loss", "x": "step", "y": ["loss"]}, {"title": "synthetic accuracy", "x": "step", "y": ["acc"]}],
          "checks": [{"metric": "final_loss", "op": "<", "value": 0.1}]}
ERRORS = ["phases/phase-09-broken.yaml: labs[0].checks[1].op: 'lt' is not one of <,<=,>,>=,==,!="]


def fake_catalog(errors: bool = True) -> Catalog:
    return Catalog(
        phases={0: resolve_chapters(build(Phase, PHASE_00, "")), 1: build(Phase, PHASE_01, "")},
        experiments={"selftest-stream": build(Experiment, STREAM, "")},
        errors=list(ERRORS) if errors else [],
    )


def curve(n: int = 120, scale: float = 1.0) -> list[dict[str, Any]]:
    return [{"step": i, "loss": scale * 2 * math.exp(-i / 30) + 0.01, "acc": 1 - math.exp(-i / 40)} for i in range(n)]


def fake_manifest(run_id: str, target: str, *, phase: int | None, lab: str, status: str = "passed",
                  numpy: str = "2.0.0", started: str = "2025-01-01T10:00:00Z", final_loss: float = 0.05,
                  dirty: bool = False) -> dict[str, Any]:
    passed = final_loss < 0.1
    return {
        "schema_version": 1, "id": run_id, "status": status, "error": None, "seed": 42,
        "target": {"name": target, "kind": "lab", "phase": phase, "lab": lab, "title": "fixed"},
        "config": {"seed": 42, "rate": 200}, "config_hash": "0123456789abcdef",
        "git": {"sha": "f" * 40, "dirty": dirty}, "quarantined": dirty,
        "versions": {"python": "3.11.7", "numpy": numpy}, "hardware": {"cores": 2, "cpu_model": "Fixed CPU", "gpu": None},
        "env": {"PYTHONHASHSEED": "42", "OMP_NUM_THREADS": "1"},
        "started_at": started, "finished_at": started, "wall_seconds": 1.25,
        "checks": [{"name": "final_loss < 0.1", "metric": "final_loss", "op": "<", "expected": 0.1, "tol": None,
                    "actual": final_loss, "passed": passed, "hard": True}],
        "results_summary": {"final_loss": final_loss, "events": 120}, "artifacts": [], "notes": [],
    }


RUN_A = "20250101T100000Z-phase-00-lab-01-aaaaaa"
RUN_B = "20250101T110000Z-phase-00-lab-01-bbbbbb"


def fill_store(home: Path) -> None:
    """Two runs of phase-00/lab-01 with fixed ids, times and metrics (B has a drifted NumPy)."""
    from workbench.store import connect
    from workbench.store.runs import record_run

    conn = connect(home / "workbench.db")
    for run_id, started, numpy, scale in ((RUN_A, "2025-01-01T10:00:00Z", "2.0.0", 1.0), (RUN_B, "2025-01-01T11:00:00Z", "2.1.0", 0.5)):
        run_dir = home / "runs" / run_id
        run_dir.mkdir(parents=True)
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in curve(scale=scale)))
        record_run(conn, fake_manifest(run_id, "phase-00/lab-01", phase=0, lab="lab-01", numpy=numpy, started=started), str(run_dir))
    conn.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


# ---------------------------------------------------------------- tests of workbench/tui/progress.py


def test_states_follow_runs_and_content(home: Path) -> None:
    from workbench.store import connect
    from workbench.tui.progress import next_phase, phase_states

    catalog = fake_catalog()
    conn = connect()
    states = phase_states(catalog, conn)
    assert len(states) == 42 and states[0] == "not_started" and states[5] == "missing"
    assert next_phase(catalog, states) == 0
    fill_store(home)
    states = phase_states(catalog, conn)
    # A passing run meets the check item, but the quiz item is not met: in progress, not done.
    assert states[0] == "in_progress" and states[1] == "not_started"
    assert next_phase(catalog, states) == 0


def test_checklist_auto_manual_and_quiz_items(home: Path) -> None:
    from workbench.store import connect
    from workbench.store.checklist import set_tick, ticked
    from workbench.tui.progress import checklist

    catalog = fake_catalog()
    phase = catalog.phases[0]
    conn = connect()
    rows = checklist(catalog, phase, conn)
    assert [(r.kind, r.state) for r in rows] == [("check", "not_met"), ("manual", "unticked"), ("quiz", "not_met")]
    fill_store(home)
    set_tick(conn, 0, 1, "Journal entry written", True)
    rows = checklist(catalog, phase, conn)
    assert rows[0].state == "met" and "0.05" in rows[0].detail
    assert rows[1].state == "ticked" and ticked(conn, 0) == {1}
    set_tick(conn, 0, 1, "Journal entry written", False)
    assert checklist(catalog, phase, conn)[1].state == "unticked"


def test_dirty_tree_run_does_not_meet_an_item(home: Path) -> None:
    from workbench.store import connect
    from workbench.store.runs import record_run
    from workbench.tui.progress import checklist

    catalog = fake_catalog()
    conn = connect()
    record_run(conn, fake_manifest("20250101T000000Z-x", "phase-00/lab-01", phase=0, lab="lab-01", dirty=True), str(home))
    row = checklist(catalog, catalog.phases[0], conn)[0]
    assert row.state == "not_met" and "quarantined" in row.detail
