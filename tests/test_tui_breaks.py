"""Break runs in the TUI (issue 12's verdicts): `detected` / `missed` in their colours with the
break's title on the runs screen, home, a run's detail and the lab pane, and a split view whose
break pane does not re-run the healthy lab (the healthy pane beside it is the comparison).

All at 80x24, on the fixed fake workspace; the split-view test replaces the runner with a fake
that records how it was called, so nothing here runs a lab or reads the clock for a verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_tui_app import aio
from test_tui_progress import fake_catalog, fake_manifest, fill_store

from workbench.tui.app import WorkbenchApp

SIZE = (80, 24)
BREAK_RUN = "20250101T120000Z-phase-00-break-00-cccccc"
LONG_TITLE = "No decay: the learning rate is zeroed after the warm-up, so the loss stays flat"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    fill_store(tmp_path)
    from workbench.store import connect
    from workbench.store.runs import record_run

    m = fake_manifest(BREAK_RUN, "phase-00/break-00", phase=0, lab="lab-01", status="detected",
                      started="2025-01-01T12:00:00Z", final_loss=2.0)
    m["target"].update(kind="break", title=LONG_TITLE)
    m["break"] = {"id": "break-00", "title": "No decay", "verdict": "detected", "healthy_shows_break": False}
    run_dir = tmp_path / "runs" / BREAK_RUN
    run_dir.mkdir(parents=True)
    conn = connect(tmp_path / "workbench.db")
    record_run(conn, m, str(run_dir))
    conn.close()
    return tmp_path


def cell_text(cell: Any) -> str:
    from rich.text import Text

    return cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain


def cell_style(cell: Any) -> str:
    return str(cell)  # the markup string the screen put in the cell


@aio
async def test_runs_screen_shows_the_verdict_coloured_and_the_whole_break_title(home: Path) -> None:
    from textual.widgets import DataTable

    from workbench.tui.screens.runs import RunsScreen

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("r")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one("#runs-table", DataTable)
        row = table.get_row_at(screen.ids.index(BREAK_RUN))
        target = cell_text(row[2])
        assert target.splitlines()[0] == "phase-00/break-00"
        assert " ".join(target.splitlines()[1:]) == LONG_TITLE  # wrapped over lines, nothing cut
        assert max(len(line) for line in target.splitlines()) < len(LONG_TITLE)
        assert cell_text(row[3]) == "detected" and "[green]" in cell_style(row[3])
        lab_row = table.get_row_at(screen.ids.index("20250101T100000Z-phase-00-lab-01-aaaaaa"))
        assert cell_text(lab_row[2]) == "phase-00/lab-01"  # a lab run: no title line
        for _ in range(3):  # all -> passed -> failed -> detected
            await pilot.press("p")
        await pilot.pause(0.1)
        assert screen.ids == [BREAK_RUN]


@aio
async def test_home_and_run_detail_name_the_break(home: Path) -> None:
    from textual.widgets import DataTable, Static

    from workbench.tui.screens.run_detail import RunScreen

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        table = app.screen.query_one("#recent", DataTable)
        first = table.get_row_at(0)  # newest first: the break run
        assert cell_text(first[0]).startswith("phase-00/break-00 No decay")
        assert cell_text(first[1]) == "detected" and "[green]" in cell_style(first[1])
        app.push_screen(RunScreen(BREAK_RUN))
        await pilot.pause(0.3)
        head = app.screen.query_one("#run-head", Static).render()
        text = str(head)
        assert "detected" in text and f"break: {LONG_TITLE}" in " ".join(text.split())


def fake_runner(calls: list[dict[str, Any]], tmp: Path, healthy_loss: float):  # type: ignore[no-untyped-def]
    """Stands in for run_request: records each call, writes results.json, returns a verdict."""
    from workbench.runner.session import RunReport

    def run_request(req, **kwargs):  # type: ignore[no-untyped-def]
        calls.append({"target": req.target, "kind": req.kind, "compare_healthy": kwargs.get("compare_healthy", True)})
        run_dir = tmp / req.target.replace("/", "-")
        run_dir.mkdir(parents=True, exist_ok=True)
        loss = healthy_loss if req.kind == "lab" else 2.0
        (run_dir / "results.json").write_text(json.dumps({"final_loss": loss, "events": 120}))
        ok = loss < 0.1 if req.kind == "lab" else loss > 1
        status = ("passed" if ok else "failed") if req.kind == "lab" else ("detected" if ok else "missed")
        checks = [{"name": "final_loss", "actual": loss, "passed": ok, "hard": True}]
        return RunReport(req, status, 0 if ok else 1, run_dir, {"id": f"run-{req.kind}", "wall_seconds": 1.0}, checks)

    return run_request


async def _split(app: WorkbenchApp, pilot: Any) -> list[Any]:
    from workbench.tui.widgets.run_pane import RunPane

    await pilot.pause(0.3)
    await pilot.press("d")
    for _ in range(40):
        await pilot.pause(0.05)
        if not app.in_flight():
            break
    await pilot.pause(0.3)
    return list(app.screen.query(RunPane))


@pytest.mark.parametrize(("healthy_loss", "note"), [(0.05, "does not meet them"), (2.0, "do not detect the break")])
@aio
async def test_split_view_does_not_rerun_the_healthy_lab_and_compares_the_panes(
    home: Path, monkeypatch: pytest.MonkeyPatch, healthy_loss: float, note: str
) -> None:
    from textual.widgets import Static

    import workbench.runner.session as session

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(session, "run_request", fake_runner(calls, home / "fake", healthy_loss))
    app = WorkbenchApp(fake_catalog(), open_target="phase-00/lab-01")
    async with app.run_test(size=SIZE) as pilot:
        panes = await _split(app, pilot)
        assert sorted((c["kind"], c["compare_healthy"]) for c in calls) == [("break", False), ("lab", True)]
        brk = next(p for p in panes if p.live.request.kind == "break")
        assert "break: No decay" in str(brk.query_one(".pane-title", Static).render())
        assert str(brk.query_one(".pane-progress", Static).render()).startswith("detected")
        shown = str(brk.query_one(".pane-note", Static).render())
        assert note in shown and brk.query_one(".pane-note").display
        healthy = next(p for p in panes if p.live.request.kind == "lab")
        assert not healthy.query_one(".pane-note").display


@aio
async def test_a_break_alone_is_compared_by_the_runner(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.runner.session as session

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(session, "run_request", fake_runner(calls, home / "fake", 0.05))
    app = WorkbenchApp(fake_catalog(), open_target="phase-00/lab-01")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await pilot.press("b")
        for _ in range(40):
            await pilot.pause(0.05)
            if not app.in_flight():
                break
    assert calls == [{"target": "phase-00/break-00", "kind": "break", "compare_healthy": True}]


def test_cli_runs_table_wraps_the_break_title_at_80_columns(home: Path) -> None:
    from test_tui_fixes import run_cli

    out = run_cli(["runs"], home).stdout
    assert BREAK_RUN in out and "detected" in out
    cells = [line.split("│")[1].strip() for line in out.splitlines() if line.count("│") >= 2]
    start = next(i for i, c in enumerate(cells) if c == BREAK_RUN)
    shown = " ".join(c for c in cells[start + 1:start + 6] if c and not c.startswith("2025"))
    assert f"phase-00/break-00 — break: {LONG_TITLE}" in shown  # every word, over wrapped lines
