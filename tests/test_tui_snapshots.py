"""SVG snapshots of the main screens at 80x24, from a fixed fake workspace.

Nothing here depends on the clock or on content others edit: the catalog and the two
runs come from test_tui_progress's fakes (fixed ids, times and metrics), and the live
lab screen shows a finished fake run. Snapshots live in tests/snapshots/; update them
with `pytest tests/test_tui_snapshots.py --snapshot-update` after checking the report.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from pytest_textual_snapshot import SVGImageExtension
from test_tui_progress import RUN_A, curve, fake_catalog, fill_store

from workbench.tui.app import WorkbenchApp
from workbench.tui.labref import phase_lab, request
from workbench.tui.live import LiveRun


class TuiSnapshots(SVGImageExtension):
    """Keep the SVGs in tests/snapshots/<module>/ rather than syrupy's __snapshots__."""

    @classmethod
    def dirname(cls, *, test_location) -> str:  # type: ignore[no-untyped-def, override]
        return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)


class _Redirect:
    def __init__(self, snapshot) -> None:  # type: ignore[no-untyped-def]
        self._snapshot = snapshot

    def use_extension(self, _cls):  # type: ignore[no-untyped-def]
        return self._snapshot.use_extension(TuiSnapshots)


@pytest.fixture
def snapshot(snapshot):  # type: ignore[no-untyped-def]
    return _Redirect(snapshot)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkbenchApp:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    fill_store(tmp_path)
    return WorkbenchApp(fake_catalog())


def finished_run(catalog, break_id: str | None = None, scale: float = 1.0) -> LiveRun:  # type: ignore[no-untyped-def]
    """A LiveRun as the worker leaves it, with fixed records, timings and report."""
    req = request(catalog, phase_lab(catalog, 0, "lab-01"), break_id, quick=True)
    live = LiveRun(req)
    live.records = curve(scale=scale)
    live.done, live.total = 120, 120
    live.started, live.ended = 0.0, 1.5
    passed = break_id is None
    checks = [{"name": "final_loss < 0.1", "actual": 0.05, "passed": passed, "hard": True},
              {"name": "events >= 100", "actual": 120, "passed": True, "hard": False}]
    live.report = SimpleNamespace(status="passed" if passed else "failed", checks=checks, reason=None,
                                  manifest={"id": RUN_A if passed else RUN_A.replace("lab-01", "break-00")})
    live.finished = threading.Event()
    live.finished.set()
    return live


def test_home(snap_compare, app: WorkbenchApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24))


def test_phase_labs_and_checklist(snap_compare, app: WorkbenchApp) -> None:
    assert snap_compare(app, press=["enter", "t"], terminal_size=(80, 24))


def test_lab_side_by_side_finished(snap_compare, app: WorkbenchApp) -> None:
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        lives = [finished_run(app.catalog), finished_run(app.catalog, "break-00", scale=8.0)]
        for live in lives:
            app.live[live.target] = live
        app.lab_views["phase-00/lab-01"] = [live.target for live in lives]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.3)

    assert snap_compare(app, run_before=before, terminal_size=(80, 24))


def test_runs_history(snap_compare, app: WorkbenchApp) -> None:
    assert snap_compare(app, press=["r", "m"], terminal_size=(80, 24))


def test_manifest_diff(snap_compare, app: WorkbenchApp) -> None:
    assert snap_compare(app, press=["r", "m", "down", "d"], terminal_size=(80, 24))


def test_run_manifest_tree(snap_compare, app: WorkbenchApp) -> None:
    assert snap_compare(app, press=["r", "down", "enter"], terminal_size=(80, 24))


def test_help_on_the_lab_screen(snap_compare, app: WorkbenchApp) -> None:
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.5)  # the lab screen behind the dialog fully drawn, even on a busy machine
        await pilot.press("question_mark")
        await pilot.pause(0.3)

    assert snap_compare(app, run_before=before, terminal_size=(80, 24))


def test_lab_side_by_side_finished_wide(snap_compare, app: WorkbenchApp) -> None:
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        lives = [finished_run(app.catalog), finished_run(app.catalog, "break-00", scale=8.0)]
        for live in lives:
            app.live[live.target] = live
        app.lab_views["phase-00/lab-01"] = [live.target for live in lives]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.3)

    assert snap_compare(app, run_before=before, terminal_size=(120, 40))


def test_quit_asks_with_a_run_in_flight(snap_compare, app: WorkbenchApp) -> None:
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        from workbench.tui.screens.quit import QuitScreen

        app.push_screen(QuitScreen(["phase-19/lab-04", "phase-19/break-00"]))
        await pilot.pause(0.1)

    assert snap_compare(app, run_before=before, terminal_size=(80, 24))


def test_review_keys_show_each_grades_interval(snap_compare, tmp_path: Path) -> None:
    """A new card, answer revealed: again → today, hard 1 d, good 1 d, easy 4 d (engine/apps/srs.py, "anki")."""
    import asyncio
    from datetime import date

    from _quiz_fixtures import write_content
    from test_quiz_tui import Host, _take_quiz

    from workbench.store.db import connect
    from workbench.tui.screens.quiz import QuizScreen
    from workbench.tui.screens.review import ReviewScreen

    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    asyncio.run(_take_quiz(QuizScreen(phase=3, catalog=catalog, conn=conn, today=date(2026, 5, 22))))
    host = Host(ReviewScreen(catalog=catalog, conn=conn, today=date(2026, 5, 23)))
    assert snap_compare(host, press=["enter"], terminal_size=(80, 24))
