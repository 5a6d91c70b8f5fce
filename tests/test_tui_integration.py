"""TUI integration: the roofline screen (cached, re-measured on a worker), quiz evidence in the
Definition-of-Done list, the experiments list with last-run status, and NO_COLOR markers.

The roofline tests never time anything: the cache is a fake roofline JSON stamped with this
machine's fingerprint, and re-measuring is patched to return a fixed fake.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_hardware_roofline_cache import _fake
from test_tui_app import SIZE, aio, wait_for
from test_tui_progress import PHASE_00, fake_catalog, fake_manifest

import engine.systems.hardware.roofline as R
from workbench import roofline as W
from workbench.charts import term
from workbench.content.schema import Chart, Phase, Quiz, build
from workbench.tui.app import WorkbenchApp


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from engine.systems.hardware.roofline import clear_ops

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    clear_ops()  # labs run in-process by other tests register ops; this screen must see only ours
    return tmp_path


def write_cache(home: Path, **extra: Any) -> dict[str, Any]:
    data = {**_fake(), "fingerprint": W._fingerprint(), "measured_at": "2025-01-01T10:00:00+00:00", "quick": False, **extra}
    path = home / W.CACHE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return data


def measure_here(app: Any, store: Path, quick: bool) -> None:
    """The screen's measuring step without the child process, so the patched measure_machine is used."""
    W.measure_or_load(store, remeasure=True, quick=quick)


def no_measuring(quick: bool = False, with_gpu: bool = True) -> dict[str, Any]:
    raise AssertionError("the cached roofline should have been used")


def record_bk_run(home: Path) -> None:
    """A finished experiment run whose metrics carry per-op intensity and GFLOP/s (like bk-scaling)."""
    from workbench.store import connect
    from workbench.store.runs import record_run

    run_id = "20250101T120000Z-bk-scaling-cccccc"
    run_dir = home / "runs" / run_id
    run_dir.mkdir(parents=True)
    rows = [{"step": i, "n": n, "op": op, "ms": 1.0, "gflops": g * n / 64, "intensity": 0.5 * k + 0.1}
            for i, n in enumerate((64, 128)) for k, (op, g) in enumerate((("bk_layer", 0.2), ("attention", 2.0)))]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = fake_manifest(run_id, "bk-scaling", phase=None, lab="bk-scaling", started="2025-01-01T12:00:00Z")
    conn = connect(home / "workbench.db")
    record_run(conn, manifest, str(run_dir))
    conn.close()


# ---------------------------------------------------------------- chart machinery


def test_lines_draw_chosen_groups_as_lines_on_a_scatter_chart() -> None:
    from workbench.charts.spec import drawing_order, series

    chart = Chart(title="t", x="x", y=["y"], kind="scatter", series_by="s", label="name", lines=["roof"])
    records = [{"s": "ops", "x": 1, "y": 2, "name": "a"}, {"s": "roof", "x": 1, "y": 1, "name": ""},
               {"s": "roof", "x": 2, "y": 2, "name": ""}]
    kinds = {s.name: s.kind for s in series(chart, records)}
    assert kinds == {"ops": "scatter", "roof": "line"}
    assert [s.name for s in drawing_order(series(chart, records))] == ["roof", "ops"]
    plain = Chart(title="t", x="x", y=["y"], kind="scatter", series_by="s")
    assert {s.kind for s in series(plain, records)} == {"scatter"}  # no `lines`: as before


def test_roofline_spec_has_ceilings_ridge_ops_and_lab_points(home: Path) -> None:
    record_bk_run(home)
    points = W.lab_points(home)
    assert sorted(p["name"] for p in points) == ["attention N=128", "bk_layer N=128"]  # the largest N per op
    chart, records = W.chart_and_records(_fake(), points)
    from workbench.charts.spec import series

    kinds = {s.name: s.kind for s in series(chart, records)}
    assert kinds[R.ROOF] == kinds[R.RIDGE] == kinds[R.LLC_ROOF] == kinds[R.DERIVED] == "line"
    assert kinds[W.OPS] == kinds[W.LAB_OPS] == "scatter"
    ridge = [r["intensity"] for r in records if r["series"] == R.RIDGE]
    assert ridge == [pytest.approx(5.0)] * 2  # 100 GFLOP/s over 20 GB/s
    roof = {r["intensity"]: r["gflops"] for r in records if r["series"] == R.ROOF}
    assert roof[min(roof)] == pytest.approx(min(roof) * 20.0) and max(roof.values()) == pytest.approx(100.0)


def test_mono_gives_each_series_its_own_marker() -> None:
    class Rec:
        def __init__(self) -> None:
            self.markers: list[Any] = []

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            def call(*args: Any, **kw: Any) -> None:
                if name in ("plot", "scatter"):
                    self.markers.append(kw.get("marker"))
            return call

    chart = Chart(title="t", x="x", y=["y"], series_by="s")
    records = [{"s": s, "x": x, "y": x * k} for k, s in enumerate("abcd", 1) for x in range(3)]
    mono, colour = Rec(), Rec()
    term.draw(mono, chart, records, color=False)
    term.draw(colour, chart, records, color=True)
    assert len(set(mono.markers)) == 4
    assert set(colour.markers) == {"braille"}  # colour tells them apart


# ---------------------------------------------------------------- roofline screen


@aio
async def test_roofline_screen_from_cache_then_remeasure(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.tui.screens import roofline as screen_module
    from workbench.tui.screens.roofline import RooflineScreen
    from workbench.tui.widgets.charts import ChartView

    write_cache(home)
    record_bk_run(home)
    monkeypatch.setattr(R, "measure_machine", no_measuring)
    monkeypatch.setattr(screen_module, "measure_in_subprocess", measure_here)
    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("o")
        screen = app.screen
        assert isinstance(screen, RooflineScreen)
        await wait_for(pilot, lambda: screen.data is not None, timeout=15)
        await wait_for(pilot, lambda: bool(screen.query(ChartView)))
        info = str(screen.query_one("#roof-info").render())
        assert "cached 2025-01-01" in info and "ridge 5.00 FLOP/B" in info and "2 from labs" in info
        view = screen.query_one(ChartView)
        await wait_for(pilot, lambda: view.points > 0)
        assert view.points == sum(1 for r in screen.records)  # every ceiling sample and op drawn
        assert view.size.width <= 80 and view.size.height >= 8
        await pilot.press("g")  # the same ops as a table
        table = screen.query_one("#roof-table")
        assert table.display and not screen.query_one("#roof-chart").display
        rows = [tuple(table.get_row_at(i)) for i in range(table.row_count)]
        assert len(rows) == 7 and ("op0", "1", "1", "memory", "5%", "built-in") in rows
        assert {r[5] for r in rows if r[0].startswith(("bk_layer", "attention"))} == {"lab"}
        await pilot.press("g")
        assert view.display

        release = threading.Event()
        calls: list[bool] = []

        def slow_measure(quick: bool = False, with_gpu: bool = True) -> dict[str, Any]:
            calls.append(quick)
            assert release.wait(15)
            return {**_fake(), "kernels": _fake()["kernels"][:2]}

        monkeypatch.setattr(R, "measure_machine", slow_measure)
        await pilot.press("u")
        assert screen.busy and "measuring" in str(screen.query_one("#roof-info").render())
        await pilot.press("u")  # a second press while measuring starts nothing
        await pilot.press("escape", "r", "h", "o")  # the UI answers keys meanwhile
        assert app.screen is screen and screen.busy  # the same screen, still measuring
        release.set()
        await wait_for(pilot, lambda: not screen.busy, timeout=15)
        assert screen.data is not None and not screen.data["cached"] and len(screen.data["kernels"]) == 2
        assert calls == [False]  # one measurement, however often u and o were pressed
        assert "measured now" in str(screen.query_one("#roof-info").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, RooflineScreen)


@aio
async def test_roofline_failure_is_shown_not_raised(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.tui.screens import roofline as screen_module
    from workbench.tui.screens.roofline import RooflineScreen

    def broken(quick: bool = False, with_gpu: bool = True) -> dict[str, Any]:
        raise RuntimeError("no BLAS today")

    monkeypatch.setattr(R, "measure_machine", broken)
    monkeypatch.setattr(screen_module, "measure_in_subprocess", measure_here)
    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("o")
        screen = app.screen
        assert isinstance(screen, RooflineScreen)
        await wait_for(pilot, lambda: screen.error is not None, timeout=15)
        assert "no BLAS today" in str(screen.query_one("#roof-info").render())


def test_a_helper_process_is_killed_when_the_app_cancels(home: Path) -> None:
    from workbench.tui.helpers import run_helper

    app = WorkbenchApp(fake_catalog())
    out: list[tuple[int, str]] = []
    worker = threading.Thread(target=lambda: out.append(run_helper(app, [sys.executable, "-c", "import time; time.sleep(60)"])))
    worker.start()
    t0 = time.monotonic()
    while not app.helpers and time.monotonic() - t0 < 10:
        time.sleep(0.01)
    assert app.helpers
    app.cancel_all()
    worker.join(10)
    assert not worker.is_alive() and out and out[0][0] != 0 and not app.helpers


def test_a_failing_helper_reports_its_stderr(home: Path) -> None:
    from workbench.tui.helpers import run_helper

    app = WorkbenchApp(fake_catalog())
    rc, err = run_helper(app, [sys.executable, "-c", "import workbench.roofline, sys; sys.exit('no BLAS')"])
    assert rc == 1 and err.endswith("no BLAS") and not app.helpers  # the child imports this workbench


# ---------------------------------------------------------------- DoD quiz evidence


QUIZ = {"id": "phase-00-demo", "phase": 0, "title": "Demo quiz", "pass_mark": 0.7,
        "items": [{"id": "q-1", "kind": "single", "prompt": "Pick one.", "choices": ["a", "b"], "answer": 1}]}


def record_attempt(home: Path, correct: int, total: int) -> None:
    from workbench.quiz.attempts import ensure_tables
    from workbench.store import connect

    conn = connect(home / "workbench.db")
    ensure_tables(conn)
    conn.execute(
        "INSERT INTO quiz_attempts (quiz_id, phase, mode, started_at, finished_at, seconds, correct, total, score, pass_mark, passed)"
        " VALUES (?, 0, 'test', '2025-01-01T10:00:00+00:00', '2025-01-01T10:05:00+00:00', 300, ?, ?, ?, 0.7, ?)",
        (QUIZ["id"], correct, total, correct / total, int(correct / total >= 0.7)),
    )
    conn.close()


@aio
async def test_dod_quiz_item_shows_best_attempt_and_verdict(home: Path) -> None:
    from textual.widgets import OptionList

    catalog = fake_catalog()
    catalog.phases[0] = build(Phase, {**PHASE_00, "quiz": QUIZ["id"]}, "")
    catalog.quizzes[QUIZ["id"]] = build(Quiz, QUIZ, "")
    record_attempt(home, 3, 5)
    app = WorkbenchApp(catalog)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("enter", "t")

        def quiz_line() -> str:
            options = app.screen.query_one("#done-list", OptionList)
            return str(options.get_option_at_index(2).prompt)

        assert "✗" in quiz_line() and "best 60% (3/5), pass mark 70%" in quiz_line()
        record_attempt(home, 4, 5)
        app.screen.reload()
        await pilot.pause()
        assert "✓" in quiz_line() and "best 80% (4/5), pass mark 70%" in quiz_line()
        # the same words as `workbench progress`
        from workbench.progress import phase_progress

        item = phase_progress(catalog, app.db(), 0).items[2]
        assert item.kind == "quiz" and item.met and item.evidence in quiz_line()


# ---------------------------------------------------------------- experiments


@aio
async def test_experiments_list_shows_every_experiment_with_last_status(home: Path) -> None:
    from textual.widgets import OptionList

    from workbench.content.loader import load_catalog
    from workbench.tui.screens.experiments import ExperimentsScreen
    from workbench.tui.screens.lab import LabScreen

    catalog = load_catalog()
    on_disk = {p.stem for p in (Path(__file__).parents[1] / "experiments").glob("*.yaml")}
    assert on_disk and on_disk <= set(catalog.experiments)
    record_bk_run(home)
    app = WorkbenchApp(catalog)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        assert isinstance(app.screen, ExperimentsScreen)
        options = app.screen.query_one("#experiments", OptionList)
        shown = {options.get_option_at_index(i).id: str(options.get_option_at_index(i).prompt)
                 for i in range(options.option_count)}
        assert set(shown) == {e for e in catalog.experiments if not e.startswith("selftest-")}  # self-tests hidden
        assert "passed" in shown["bk-scaling"]
        assert all("never run" in text for exp, text in shown.items() if exp != "bk-scaling")
        index = list(shown).index("bk-scaling")
        options.highlighted = index
        await pilot.press("enter")
        assert isinstance(app.screen, LabScreen) and app.screen.ref.target == "bk-scaling"
        series = [c.series_by for c in app.screen.ref.charts]  # every chart one line per op
        assert series and set(series) == {"op"}


@aio
async def test_experiment_run_streams_live_charts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_SELFTEST", "1")  # the fake catalog's only experiment is a self-test
    from workbench.tui.screens.experiments import ExperimentsScreen
    from workbench.tui.screens.lab import LabScreen
    from workbench.tui.widgets.run_pane import RunPane

    app = WorkbenchApp(fake_catalog(), quick=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("e")
        assert isinstance(app.screen, ExperimentsScreen)
        await pilot.press("enter", "s")
        assert isinstance(app.screen, LabScreen)
        pane = app.screen.query_one(RunPane)
        await wait_for(pilot, lambda: pane.grid.points > 0)  # charts drawn while it runs
        await wait_for(pilot, lambda: pane.live is not None and not pane.live.running)
        assert pane.live.status == "passed"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ExperimentsScreen)
        assert "passed" in str(app.screen.query_one("#experiments").get_option_at_index(0).prompt)
