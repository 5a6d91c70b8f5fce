"""Pilot tests of the TUI: navigation, a real quick lab run with live charts, cancel, quit, diff, ticks.

Runs are real (the selftest stream lab in a subprocess, through `run_request`); the
workspace is a temporary WORKBENCH_HOME, and the catalog is the fixed fake one.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_tui_progress import RUN_A, RUN_B, STREAM, fake_catalog, fill_store

from workbench.content.loader import Catalog
from workbench.content.schema import Experiment, build
from workbench.tui.app import WorkbenchApp

SIZE = (80, 24)
LONG_STREAM_SECONDS = 60  # cancel tests: the stream must still be running when the key lands on a loaded box


def long_stream_catalog(seconds: float = LONG_STREAM_SECONDS) -> Catalog:
    """The fake catalog with a selftest stream that runs a minute (12000 events), not 5 s.

    A 5 s stream can finish on a busy machine before the UI has seen 20 records and the
    cancel (or quit) key has been handled, and then the run passes instead of being cancelled
    (or has nothing left to detach).
    """
    cat = fake_catalog()
    spec = {**STREAM, "config": {"rate": 200, "seconds": seconds}, "quick": {"seconds": seconds}}
    cat.experiments = {"selftest-stream": build(Experiment, spec, "")}
    return cat


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


def aio(fn):  # type: ignore[no-untyped-def]
    """Run an async test body with asyncio.run (the project has no async pytest plugin)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 180.0) -> None:  # type: ignore[no-untyped-def]
    """Poll `cond` between Pilot pauses. The bound is generous on purpose: a lab run is a subprocess
    that imports numpy/torch, and on a 2-core box with both cores busy its start alone took 25-50 s."""
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out waiting"
        await pilot.pause(0.05)


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


@aio
async def test_navigate_home_phase_lab(home: Path) -> None:
    from workbench.tui.screens.home import HomeScreen
    from workbench.tui.screens.lab import LabScreen
    from workbench.tui.screens.phase import PhaseScreen

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert "phase-00" in str(app.screen.query_one("#phase-info").render())
        await pilot.press("enter")
        assert isinstance(app.screen, PhaseScreen) and app.screen.number == 0
        await pilot.press("enter")  # first row of the labs table: lab-01
        assert isinstance(app.screen, LabScreen) and app.screen.ref.target == "phase-00/lab-01"
        assert app.screen.break_id == "break-00"
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("right", "enter")  # phase-01 via the strip
        assert isinstance(app.screen, PhaseScreen) and app.screen.number == 1
        await pilot.press("h")
        await pilot.press("n")  # next phase: phase-00, nothing done yet
        assert isinstance(app.screen, PhaseScreen) and app.screen.number == 0


@aio
async def test_quick_lab_runs_to_completion_with_live_charts(home: Path) -> None:
    from workbench.tui.screens.lab import LabScreen
    from workbench.tui.widgets.charts import ChartGrid, ChartView
    from workbench.tui.widgets.checks import CheckTable
    from workbench.tui.widgets.run_pane import RunPane

    app = WorkbenchApp(fake_catalog(), quick=True, open_target="selftest-stream")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen))
        await pilot.press("s")
        live = app.live["selftest-stream"]
        await wait_for(pilot, lambda: len(live.records) > 20)
        pane = app.screen.query_one(RunPane)
        await wait_for(pilot, lambda: pane.grid.points > 0)  # charts got points while the lab ran
        assert live.running
        await wait_for(pilot, lambda: not live.running)
        await wait_for(pilot, lambda: pane.has_class("-finished"))
        await pilot.pause(0.2)
        assert live.status == "passed" and len(live.records) == 200
        views = list(pane.query(ChartView))
        assert [v.chart.title for v in views] == ["synthetic loss", "synthetic accuracy"]
        assert all(v.points == 200 for v in views)
        grid = pane.query_one(ChartGrid)
        assert grid.redraws <= live.elapsed / 0.1 + 3  # throttled: at most ~10 redraws a second
        table = pane.query_one(CheckTable)
        assert table.row_count == 1
        assert "PASS" in str(table.get_row_at(0)[0]) and "final_loss" in str(table.get_row_at(0)[2])
        assert "passed" in str(pane.query_one(".pane-progress").render())
    from workbench.store import connect
    from workbench.store.runs import list_runs

    assert [r["status"] for r in list_runs(connect(), target="selftest-stream")] == ["passed"]


@aio
async def test_lab_and_break_side_by_side(home: Path) -> None:
    from workbench.tui.screens.lab import LabScreen
    from workbench.tui.widgets.run_pane import RunPane

    app = WorkbenchApp(fake_catalog(), quick=True, open_target="phase-00/lab-01")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen))
        await pilot.press("d")
        lives = [app.live["phase-00/lab-01"], app.live["phase-00/break-00"]]
        assert len(app.screen.query(RunPane)) == 2
        await wait_for(pilot, lambda: not any(live.running for live in lives))
        # The selftest lab ignores the fault, so the break's expectation (loss > 1) fails: a real check.
        assert [live.status for live in lives] == ["passed", "missed"]
        assert lives[1].request.config["fault"] == "flat"


@aio
async def test_cancel_a_run_leaves_no_process(home: Path) -> None:
    from workbench.tui.screens.lab import LabScreen

    app = WorkbenchApp(long_stream_catalog(), quick=False, open_target="selftest-stream")  # 60 s at 200 events/s
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen))
        await pilot.press("s")
        live = app.live["selftest-stream"]
        await wait_for(pilot, lambda: len(live.records) > 20)
        assert live.running
        await pilot.press("x")
        await wait_for(pilot, lambda: not live.running)
        assert live.status == "cancelled"
        assert live.report.manifest["status"] == "cancelled"
        assert len(live.records) < 200 * LONG_STREAM_SECONDS  # stopped before the stream's end
        assert processes_mentioning(str(live.report.run_dir)) == []


@aio
async def test_quit_cancels_the_run_in_flight(home: Path) -> None:
    from workbench.tui.screens.lab import LabScreen

    app = WorkbenchApp(long_stream_catalog(), quick=False, open_target="selftest-stream")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen))
        await pilot.press("s")
        live = app.live["selftest-stream"]
        await wait_for(pilot, lambda: len(live.records) > 10)
        await pilot.press("q")  # asks first: x cancels, q lets it finish, escape stays
        assert app.screen.__class__.__name__ == "QuitScreen" and live.running
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "LabScreen" and live.running
        await pilot.press("q", "x")
        await wait_for(pilot, lambda: not live.running)
    assert live.status == "cancelled"
    assert processes_mentioning(str(live.report.run_dir)) == []


@aio
async def test_quit_can_leave_the_run_to_finish_with_its_manifest(home: Path) -> None:
    from workbench.tui.app import wait_detached
    from workbench.tui.screens.lab import LabScreen

    # 30 s, not the quick stream's 1 s: under load that run could end before "q q" landed (a CI-like
    # run at load ~3 saw detached == []); the run is then waited for to its end below
    app = WorkbenchApp(long_stream_catalog(30), quick=True, open_target="selftest-stream")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen))
        await pilot.press("s")
        live = app.live["selftest-stream"]
        await wait_for(pilot, lambda: len(live.records) > 5)
        assert live.running
        await pilot.press("q", "q")
    assert app.detached == [live] and not live.cancel.is_set()
    wait_detached(app.detached)  # what run_app does after the UI is gone
    assert live.status == "passed" and (live.report.run_dir / "manifest.json").exists()


@aio
async def test_runs_history_diff_overlay_and_detail(home: Path) -> None:
    from textual.widgets import Tree

    from workbench.tui.screens.diff import DiffScreen
    from workbench.tui.screens.run_detail import RunChartsScreen, RunScreen
    from workbench.tui.screens.runs import RunsScreen
    from workbench.tui.widgets.charts import ChartView

    fill_store(home)
    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        assert isinstance(app.screen, RunsScreen) and app.screen.ids == [RUN_B, RUN_A]
        await pilot.press("space", "down", "d")
        assert isinstance(app.screen, DiffScreen) and app.screen.exit_code == 1
        text = str(app.screen.query_one("#diff").render())
        assert "VERSIONS" in text and "versions.numpy" in text and "2.1.0" in text
        await pilot.press("escape", "g")
        assert isinstance(app.screen, RunChartsScreen)
        await pilot.pause(0.2)
        views = list(app.screen.query(ChartView))
        assert views and all(v.points == 240 for v in views)  # 120 points from each run
        await pilot.press("escape", "enter")
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == RUN_A
        tree = app.screen.query_one(Tree)
        labels = [str(n.label) for n in tree.root.children]
        assert any(label.startswith("status: ") for label in labels) and "versions" in labels
        await pilot.press("g")
        await pilot.pause(0.2)
        assert all(v.points == 120 for v in app.screen.query(ChartView))
        await pilot.press("escape", "slash", *"phase-01", "enter")
        assert app.screen.ids == []
        await pilot.press("slash", "ctrl+u", "enter", "p", "p")  # clear the filter, then status: failed
        assert app.screen.ids == []


@aio
async def test_manual_tick_persists(home: Path) -> None:
    from textual.widgets import OptionList

    from workbench.store import connect
    from workbench.store.checklist import ticked

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "t")
        options = app.screen.query_one(OptionList)
        assert options.has_focus
        await pilot.press("down", "space")
        assert "✓" in str(options.get_option_at_index(1).prompt)
        await pilot.press("up", "enter")  # an automatic item: not tickable
        assert "✗" in str(options.get_option_at_index(0).prompt)
    assert ticked(connect(), 0) == {1}


@aio
async def test_content_error_panel_names_file_and_field(home: Path) -> None:
    from workbench.tui.widgets.errors import ErrorPanel

    app = WorkbenchApp(fake_catalog(errors=True))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(ErrorPanel)
        assert panel.display
        text = str(panel.render())
        assert "phases/phase-09-broken.yaml" in text and "labs[0].checks[1].op" in text
        await pilot.press("enter")  # the app still works around the broken file
        assert app.screen.__class__.__name__ == "PhaseScreen"


@pytest.mark.parametrize(("key", "screen"), [("z", "QuizScreen"), ("v", "ReviewScreen")])
@aio
async def test_quiz_and_review_slots_open_their_screens(home: Path, key: str, screen: str) -> None:
    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        assert app.screen.__class__.__name__ == screen


def test_every_registered_screen_has_its_own_key_and_class() -> None:
    import importlib

    from workbench.tui.registry import SCREENS

    keys = [e.key for e in SCREENS.values()]
    assert len(set(keys)) == len(keys) and "h" not in keys and "q" not in keys
    for entry in SCREENS.values():
        module, _, cls = entry.path.partition(":")
        assert hasattr(importlib.import_module(module), cls), entry.path


@aio
async def test_no_color_gives_monochrome_app_and_plain_charts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.tui.widgets.charts import ChartView

    monkeypatch.setenv("NO_COLOR", "1")
    app = WorkbenchApp(fake_catalog(), open_target="phase-00/lab-01")
    assert app.mono and app.no_color
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(app.screen.query(ChartView)))
        assert all(view.theme == "clear" for view in app.screen.query(ChartView))
