"""Pilot: the exercise loop in the TUI on a real lab — m (mine), s (run mine), ? (the hint),
d (mine next to the reference in the split view) — and the phase screen's exercise state."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_tui_app import aio, wait_for  # noqa: E402

from workbench.content import load_catalog  # noqa: E402
from workbench.tui.app import WorkbenchApp  # noqa: E402

TARGET = "phase-07/lab-03"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


@aio
async def test_mine_hint_and_side_by_side(home: Path) -> None:
    from workbench.cli_exercises import start
    from workbench.tui.screens.lab import LabScreen
    from workbench.tui.widgets.run_pane import RunPane

    assert start(TARGET, solution=False, force=False) == 0
    app = WorkbenchApp(load_catalog(), quick=True, open_target=TARGET)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LabScreen))
        lab = app.screen
        await pilot.press("m")
        assert lab.mine
        await pilot.press("s")
        await wait_for(pilot, lambda: bool(lab.panes) and lab.panes[0].live is not None and not lab.panes[0].live.running)
        live = lab.panes[0].live
        assert live.request.exercise and live.status == "crashed"  # the starter raises NotImplementedError

        await pilot.press("question_mark")
        await pilot.pause()
        from workbench.tui.screens.help import help_markup

        assert "Hint 1/3" in help_markup(lab)
        await pilot.press("escape")

        assert start(TARGET, solution=True, force=True) == 0
        await pilot.press("d")
        await wait_for(pilot, lambda: len(lab.panes) == 2 and all(p.live is not None and not p.live.running for p in lab.panes))
        assert [p.live.status for p in lab.panes] == ["passed", "passed"]
        assert [bool(p.live.request.exercise) for p in lab.panes] == [True, False]
        assert len(lab.query(RunPane)) == 2

    from workbench.exercises.catalog import find
    from workbench.exercises.state import state_of
    from workbench.store import connect

    conn = connect()
    st = state_of(conn, find(load_catalog(), TARGET))
    conn.close()
    assert st.state == "passing" and st.hints_used >= 1 and st.solution_seen
