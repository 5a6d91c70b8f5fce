"""The fixes of issue 18, each at 80x24 and 120x40 where it is a screen: help, split view after
completion, progress with sub-runs and ETA, home refresh, strip states, review relearning,
planned labs, chart axes, roofline notes and CLI conventions.

Screens use the fixed fake workspace (test_tui_progress); finished runs are the snapshot
tests' fakes, so nothing here runs a lab or reads the clock for a verdict.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from test_tui_app import aio
from test_tui_progress import PHASE_00, fake_catalog, fill_store
from test_tui_snapshots import finished_run

from workbench.charts.spec import effective, log_ticks, nice_ticks, tick_label
from workbench.content.schema import Chart
from workbench.run_progress import RunProgress, summary
from workbench.tui.app import WorkbenchApp

SIZES = [(80, 24), (120, 40)]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


# ---------------------------------------------------------------- screens


@pytest.mark.parametrize("size", SIZES)
@aio
async def test_question_mark_shows_this_screens_keys_and_the_screens_own_help(home: Path, size: tuple[int, int]) -> None:
    from workbench.tui.screens.help import HelpScreen

    app = WorkbenchApp(fake_catalog(), open_target="phase-00/lab-01")
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.2)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        for key, what in (("s", "Start"), ("d", "Side by side"), ("f", "Quick"), ("h", "Home"), ("?", "Help")):
            assert any(line.split("]", 1)[-1].strip().startswith(key) or f"]{key}" in line for line in text.splitlines()
                       if what in line), (key, what)
        assert "Break" in text and "break-00" in text  # the lab screen's help_extra
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "LabScreen"


def test_one_meaning_per_letter_across_screens() -> None:
    """A letter bound on two screens does the same thing on both (docs/KEYS.md)."""
    from workbench.tui.screens import (
        diff,
        experiments,
        home,
        lab,
        phase,
        quiz,
        review,
        roofline,
        run_detail,
        runs,
    )

    meaning: dict[str, set[str]] = {}
    where: dict[str, set[str]] = {}
    for module in (home, phase, lab, runs, run_detail, diff, experiments, roofline, quiz, review):
        for cls in vars(module).values():
            for b in getattr(cls, "BINDINGS", []) if isinstance(cls, type) and cls.__module__ == module.__name__ else []:
                if len(b.key) == 1 and b.key.isalpha():
                    meaning.setdefault(b.key, set()).add(b.description.split()[0].lower())
                    where.setdefault(b.key, set()).add(cls.__name__)
    clashes = {k: v for k, v in meaning.items() if len(v) > 1}
    assert clashes == {"d": {"diff", "side"}}  # both compare two runs: a manifest diff, or two live panes
    assert where.get("m", {"LabScreen"}) == {"LabScreen"} and where.get("w", {"LabScreen"}) == {"LabScreen"}


@pytest.mark.parametrize("size", SIZES)
@aio
async def test_split_view_after_both_finish_keeps_chart_rows_and_actual_values(home: Path, size: tuple[int, int]) -> None:
    from workbench.tui.widgets.charts import ChartView
    from workbench.tui.widgets.checks import CheckTable
    from workbench.tui.widgets.run_pane import RunPane

    fill_store(home)
    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=size) as pilot:
        lives = [finished_run(app.catalog), finished_run(app.catalog, "break-00", scale=8.0)]
        for live in lives:
            app.live[live.target] = live
        app.lab_views["phase-00/lab-01"] = [live.target for live in lives]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.4)
        panes = list(app.screen.query(RunPane))
        assert len(panes) == 2
        for pane in panes:
            for view in pane.query(ChartView):
                assert view.size.height >= 6 and view.points > 0
            table = pane.query_one(CheckTable)
            assert table.display and table.row_count == 2
            assert str(table.get_row_at(0)[1]) in ("0.05",)  # the actual value, before the long check name
        verdicts = [str(p.query_one(".pane-progress").render()) for p in panes]
        assert verdicts[0].startswith("passed") and verdicts[1].startswith("missed")


@aio
async def test_split_view_plots_the_metric_the_break_declares(home: Path) -> None:
    from workbench.content.loader import Catalog
    from workbench.content.schema import Phase, build
    from workbench.tui.widgets.charts import ChartView

    spec = json.loads(json.dumps(PHASE_00))
    spec["breaks"][0]["shows"] = "acc"
    catalog = fake_catalog()
    catalog = Catalog(phases={**catalog.phases, 0: build(Phase, spec, "")}, quizzes=catalog.quizzes,
                      experiments=catalog.experiments, errors=catalog.errors)
    app = WorkbenchApp(catalog)
    async with app.run_test(size=(80, 24)) as pilot:
        lives = [finished_run(catalog), finished_run(catalog, "break-00")]
        for live in lives:
            app.live[live.target] = live
        app.lab_views["phase-00/lab-01"] = [live.target for live in lives]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.3)
        titles = [v.chart.title for v in app.screen.query(ChartView)]
        assert titles == ["accuracy", "accuracy"]  # both panes, only the chart of `acc`


@pytest.mark.parametrize("size", SIZES)
@aio
async def test_planned_lab_says_what_it_needs(home: Path, size: tuple[int, int]) -> None:
    from workbench.content.loader import Catalog
    from workbench.content.schema import Phase, build
    from workbench.tui.widgets.charts import ChartGrid

    spec = json.loads(json.dumps(PHASE_00))
    spec["labs"].append({"id": "lab-03", "title": "Later", "status": "planned", "needs": ["gpu"]})
    base = fake_catalog()
    catalog = Catalog(phases={**base.phases, 0: build(Phase, spec, "")}, quizzes=base.quizzes,
                      experiments=base.experiments, errors=base.errors)
    app = WorkbenchApp(catalog, open_target="phase-00/lab-03")
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        line = str(app.screen.query_one(".pane-progress").render())
        assert "Planned" in line and "gpu" in line
        assert not app.screen.query(ChartGrid)  # no empty charts


@pytest.mark.parametrize("size", SIZES)
@aio
async def test_home_refreshes_recent_runs_when_a_run_finishes(home: Path, size: tuple[int, int]) -> None:
    from textual.widgets import DataTable

    from workbench.tui.messages import RunFinished

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#recent", DataTable)
        assert "no runs yet" in str(table.get_row_at(0)[0])
        fill_store(home)  # two runs land in the index while Home is showing
        app.broadcast(RunFinished, None)
        await pilot.pause()
        assert table.row_count == 2 and len(app.screen.run_ids) == 2


@aio
async def test_strip_marks_phases_without_a_runnable_lab_and_manual_items_keep_done_honest(home: Path) -> None:
    from workbench.content.loader import Catalog
    from workbench.content.schema import Phase, build
    from workbench.store import connect
    from workbench.tui.progress import phase_states

    planned = {"id": 2, "slug": "later", "title": "Only planned", "goal": "Not yet.",
               "labs": [{"id": "lab-01", "title": "Soon", "status": "planned"}]}
    base = fake_catalog()
    catalog = Catalog(phases={**base.phases, 2: build(Phase, planned, "")}, quizzes=base.quizzes,
                      experiments=base.experiments, errors=base.errors)
    states = phase_states(catalog, connect(home / "workbench.db"))
    assert states[2] == "no_lab" and states[1] == "not_started" and states[3] == "missing"


def test_review_again_comes_back_in_the_session_and_keys_show_intervals(tmp_path: Path) -> None:
    from _quiz_fixtures import write_content
    from test_quiz_tui import Host, _take_quiz

    from workbench.quiz import cards
    from workbench.store.db import connect
    from workbench.tui.screens.quiz import QuizScreen
    from workbench.tui.screens.review import ReviewScreen

    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    asyncio.run(_take_quiz(QuizScreen(phase=3, catalog=catalog, conn=conn, today=date(2026, 5, 22))))
    screen = ReviewScreen(catalog=catalog, conn=conn, today=date(2026, 5, 23))
    seen: dict[str, object] = {}

    async def walk() -> None:
        async with Host(screen).run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert len(screen.queue) == 1
            await pilot.press("enter")  # reveal
            seen["keys"] = str(screen.query_one("#review-keys").render())
            await pilot.press("1")  # again: a lapse, due again today, back in this session
            seen["queue"] = len(screen.queue)
            seen["relearning"] = screen.session.is_relearning
            await pilot.press("enter", "3")  # reveal again, pass the relearning step
            seen["stage"] = screen.stage

    asyncio.run(walk())
    keys = str(seen["keys"])
    for shown in ("again → today", "hard → 1 d", "good → 1 d", "easy → 4 d"):  # a new card, engine.apps.srs "anki"
        assert shown in keys, keys
    assert seen["queue"] == 2 and seen["relearning"] is True and seen["stage"] == "done"
    # two real SM-2 steps: the lapse (interval 0, due today) and the relearning pass (1 day)
    assert [(item, g, s.interval) for item, g, s in screen.reviewed] == [("q-03-04", 0, 0), ("q-03-04", 4, 1)]
    card = cards.get(conn, "phase-03-fixture", "q-03-04")
    assert card is not None and card.state.due == date(2026, 5, 24)


def test_tui_accepts_as_of(home: Path) -> None:
    app = WorkbenchApp(fake_catalog(), as_of=date(2030, 1, 2))
    from workbench.tui.registry import SCREENS

    screen = SCREENS["review"].make(app)
    assert screen.today == date(2030, 1, 2)


# ---------------------------------------------------------------- progress, charts


def test_progress_counts_sub_runs_never_goes_back_and_has_an_eta() -> None:
    p = RunProgress(config={"total_steps": 600}, series_key="injection", started=0.0)
    fractions = []
    for j, kind in enumerate(["none", "scale", "bad_batch", "v_corrupt"]):
        for step in range(0, 600, 50):
            p.feed({"type": "metric", "step": step, "injection": kind})
            p.feed({"type": "progress", "done": step, "total": 600})
            fractions.append(p.fraction())
        p.feed({"type": "progress", "done": j + 1, "total": 4})
        fractions.append(p.fraction())
    # the bar only grows, the first sub-run included (no previous run, no count of sub-runs yet)
    assert all(b >= a for a, b in zip(fractions, fractions[1:], strict=False)) and fractions[-1] == 1.0
    p2 = RunProgress(config={"total_steps": 600}, series_key="injection", started=0.0)
    p2.feed({"type": "progress", "done": 1, "total": 4})
    p2.feed({"type": "progress", "done": 300, "total": 600})
    p2.feed({"type": "metric", "step": 300, "injection": "scale"})
    assert p2.fraction() == pytest.approx(0.375, abs=1e-3) and p2.label() == "2 of 4 · scale"
    assert p2.eta(now=30.0) == pytest.approx(50.0, rel=0.01)  # 30 s for 37.5 %
    assert "ETA 50 s" in summary(p2, now=30.0) or "ETA 49 s" in summary(p2, now=30.0)
    fresh = RunProgress(previous_wall=40.0, started=0.0)
    assert fresh.stage() == "starting…" and fresh.eta(now=10.0) == 30.0  # before any event: the last run's time


def test_ticks_are_1_2_5_and_labels_short() -> None:
    assert nice_ticks(0, 224.2) == [0, 50, 100, 150, 200]
    assert nice_ticks(22, 26) == [22, 23, 24, 25, 26]
    assert nice_ticks(0, 1, 5) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert tick_label(2.22e-16) == "2.22e-16" and tick_label(0.4, 0.2) == "0.4" and tick_label(150, 50) == "150"
    assert log_ticks(0.01, 1000) == [0.01, 0.1, 1, 10, 100, 1000]
    assert log_ticks(5, 60) == [5, 10, 20, 50]


def test_log_axis_only_when_asked_and_over_a_decade() -> None:
    chart = Chart(title="loss", y=["loss"], logy=True)
    narrow = [{"step": i, "loss": 22 + i / 25} for i in range(100)]
    wide = [{"step": i, "loss": 10 ** (2 - i / 25)} for i in range(100)]
    assert not effective(chart, narrow).logy and effective(chart, wide).logy
    assert not effective(Chart(title="x", y=["loss"]), wide).logy


def test_terminal_legend_is_outside_and_fault_is_marked() -> None:
    import plotext as plt

    from workbench.charts.spec import Mark
    from workbench.charts.term import draw

    chart = Chart(title="loss", y=["loss"], series_by="run")
    records = [{"run": r, "step": s, "loss": 1 + s / 100 + (r == "b")} for r in "ab" for s in range(100)]
    drawn = draw(plt, chart, records, color=False, marks=[Mark(50, "injected @ 50")], size=(60, 16))
    assert [name for _, name in drawn.legend] == ["a", "b", "injected @ 50"]
    plt.plotsize(60, 16)
    canvas = plt.build()
    assert " a" not in canvas.splitlines()[1] and "injected @ 50" in canvas  # no legend box over the data


def test_png_follows_the_same_spec(tmp_path: Path) -> None:
    from workbench.charts.png import render_png
    from workbench.charts.spec import Mark, caption

    chart = Chart(title="loss", y=["loss"], logy=True)
    records = [{"step": i, "loss": 22 + i / 25} for i in range(50)]
    out = tmp_path / "c.png"
    assert render_png(chart, records, out, title_suffix=" · " + caption("break", "cancelled"), marks=[Mark(10, "x")])
    assert out.stat().st_size > 1000
    assert caption("loss", "phase-19/break-00", "cancelled") == "loss · phase-19/break-00 · cancelled"


# ---------------------------------------------------------------- roofline, CLI


def test_roofline_writes_no_ansi_to_a_pipe_and_notes_points_above_the_roof(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_tui_integration import write_cache

    from engine.systems.hardware import roofline as engine_roofline

    # The CLI runs in this process: ops that labs run earlier in the session registered stay out.
    monkeypatch.setattr(engine_roofline, "_OPS", {})
    write_cache(home)
    out = run_cli(["roofline"], home)
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout
    assert "▲ op3" in out.stdout and "above the measured compute peak" in out.stdout
    data = json.loads(run_cli(["roofline", "--json"], home).stdout)
    above = [p for p in data["points"] if p.get("note")]
    assert {p["name"] for p in above} == {"op3 ▲", "op4 ▲"}


def run_cli(args: list[str], home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in-process (typer's runner: stdout is not a terminal, as in a pipe), 80 columns wide."""
    from typer.testing import CliRunner

    from workbench.cli import app

    result = CliRunner().invoke(app, args, env={"WORKBENCH_HOME": str(home), "COLUMNS": "80", **(env or {})})
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, "")


def test_cli_conventions(home: Path) -> None:
    assert run_cli(["--version"], home).stdout.startswith("workbench ")
    assert "Usage" in run_cli(["-h"], home).stdout and "--install-completion" in run_cli(["--help"], home).stdout
    valid = json.loads(run_cli(["validate", "--json"], home).stdout)
    assert valid["phases"] >= 1 and isinstance(valid["problems"], list)
    missing = run_cli(["verify", "nope", "--json"], home)
    assert missing.returncode == 2 and json.loads(missing.stdout)["result"] == "missing"
    refused = run_cli(["report", "phase-07", "--json"], home)
    assert json.loads(refused.stdout)["written"] is False  # no passed quiz here: refused, with a reason
    assert run_cli(["report", "seven"], home).returncode == 2


def test_runs_table_keeps_whole_ids_at_80_columns(home: Path) -> None:
    from test_tui_progress import RUN_A, RUN_B

    fill_store(home)
    out = run_cli(["runs"], home).stdout
    assert RUN_A in out and RUN_B in out


@pytest.mark.parametrize("size", SIZES)
@aio
async def test_outcome_goes_in_the_pane_and_in_flight_runs_show_in_the_header(home: Path, size: tuple[int, int]) -> None:
    import threading

    from workbench.tui.app import _Finished

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=size) as pilot:
        live = finished_run(app.catalog)
        app.live[live.target] = live
        app.lab_views["phase-00/lab-01"] = [live.target]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.2)
        app.post_message(_Finished(live))  # the run the learner is watching ends: no toast over its table
        await pilot.pause(0.1)
        assert not app._notifications
        assert str(app.screen.query_one(".pane-progress").render()).startswith("passed")
        await pilot.press("h")
        app.post_message(_Finished(live))  # the same event off screen is a background event: a toast
        await pilot.pause(0.1)
        assert len(app._notifications) == 1
        running = finished_run(app.catalog, "break-00")
        running.finished = threading.Event()  # still in flight
        app.live[running.target] = running
        app._update_indicator()
        assert app.sub_title.startswith("● phase-00/break-00")
        running.finished.set()


def test_overlay_smoothing_is_a_bias_corrected_ema_per_series() -> None:
    from workbench.tui.screens.run_detail import OVERLAY_KEY, ema

    rows = [{OVERLAY_KEY: run, "step": i, "loss": float(v)} for i, (run, v) in
            enumerate([("A", 4), ("B", 10), ("A", 4), ("B", 0), ("A", 4)])]
    out = ema(rows, ["loss"], 0.5, OVERLAY_KEY)
    a = [r["loss"] for r in out if r[OVERLAY_KEY] == "A"]
    b = [r["loss"] for r in out if r[OVERLAY_KEY] == "B"]
    assert a == [4.0, 4.0, 4.0]  # a constant stays put: bias-corrected, no pull towards 0
    assert b[0] == 10.0 and b[1] == pytest.approx((0.5 * 5.0) / (1 - 0.25))  # 0.5*(0.5*10) + 0.5*0, corrected
    assert ema(rows, ["loss"], 0.0, OVERLAY_KEY) is rows


def test_first_sub_run_does_not_fill_the_bar_when_the_last_run_took_longer() -> None:
    p = RunProgress(config={"total_steps": 600}, previous_wall=40.0, started=0.0)
    p.feed({"type": "progress", "done": 550, "total": 600})  # sub-run 1 of an unknown number, nearly done
    p.elapsed = lambda now=None: 10.0  # type: ignore[method-assign]  # 10 s into a lab that took 40 s last time
    assert p.fraction() == pytest.approx(0.2475)
    p.feed({"type": "progress", "done": 1, "total": 4})  # now the count is known: 1 of 4 done
    assert p.fraction() == pytest.approx(0.25)


def test_first_sub_run_with_no_previous_run_never_drops_and_converges() -> None:
    """The bar held at its high point when "1 of 4" arrives after sub-run 1's steps, then closes the
    gap over the remaining work; the ETA reads the revised (true) fraction."""
    p = RunProgress(config={"total_steps": 600}, started=0.0)
    p.feed({"type": "progress", "done": 550, "total": 600})  # sub-run 1's steps, nothing else known
    assert p.fraction() == pytest.approx(550 / 600)
    p.feed({"type": "progress", "done": 1, "total": 4})  # now: 1 of 4 done, i.e. really 25 %
    assert p.fraction() == pytest.approx(550 / 600) and p.raw_fraction() == pytest.approx(0.25)
    assert p.eta(now=10.0) == pytest.approx(30.0)  # 10 s for 25 %: honest, from the raw fraction
    assert p.label() == "2 of 4"
    p.feed({"type": "progress", "done": 300, "total": 600})  # half of sub-run 2: raw 0.375
    s0, r0 = 550 / 600, 0.25
    assert p.fraction() == pytest.approx(s0 + (1 - s0) * (0.375 - r0) / (1 - r0))
    shown = [p.fraction()]
    for done in (2, 3, 4):
        p.feed({"type": "progress", "done": done, "total": 4})
        shown.append(p.fraction())
    assert shown == sorted(shown) and shown[-1] == 1.0


@pytest.mark.parametrize("size", SIZES)
@aio
async def test_pane_progress_never_goes_back_on_a_first_run(home: Path, size: tuple[int, int]) -> None:
    """Pilot: a lab in flight streams sub-run 1's steps, then '1 of 4', then the rest; the pane's
    percentage only grows and names the sub-run."""
    import re
    import threading

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=size) as pilot:
        live = finished_run(app.catalog)
        live.report, live.records, live.done, live.total = None, [], 0, 0
        live.progress = RunProgress({"total_steps": 600}, None, None)
        live.finished = threading.Event()  # in flight
        app.live[live.target] = live
        app.lab_views["phase-00/lab-01"] = [live.target]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.1)
        seen: list[tuple[int, str]] = []
        events = [{"type": "progress", "done": d, "total": 600} for d in (100, 300, 550)]
        events += [{"type": "progress", "done": 1, "total": 4}, {"type": "progress", "done": 300, "total": 600}]
        events += [{"type": "progress", "done": d, "total": 4} for d in (2, 3)]
        for event in events:
            live.on_event(event)
            app.screen.query_one("RunPane").poll()
            await pilot.pause(0.05)
            text = str(app.screen.query_one(".pane-progress").render())
            seen.append((int(re.search(r"(\d+)%", text).group(1)), text))
        live.finished.set()
    percents = [pct for pct, _ in seen]
    assert percents == sorted(percents) and percents[0] == 17, seen
    assert "2 of 4" in seen[3][1] and "4 of 4" in seen[-1][1]


@pytest.mark.parametrize("size", SIZES)
@aio
async def test_quick_toggle_repaints_its_row_without_a_full_layout(home: Path, size: tuple[int, int],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18c: a key press on the lab screen used to reflow the whole screen (the title's
    update asked for a layout) and the header's run indicator did the same at every percent; on a
    streaming split view those full repaints were the 430-500 ms spikes (benchmarks/bench_tui_keys.py)."""
    import threading

    from textual.widget import Widget

    app = WorkbenchApp(fake_catalog())
    async with app.run_test(size=size) as pilot:
        running = finished_run(app.catalog)
        running.finished = threading.Event()  # in flight
        running.progress = RunProgress({"total_steps": 100}, None, None)
        app.live[running.target] = running
        app.lab_views["phase-00/lab-01"] = [running.target]
        app.open_lab_target("phase-00/lab-01")
        await pilot.pause(0.2)
        layouts: list[str] = []
        refresh = Widget.refresh

        def counted(self: Widget, *args: object, layout: bool = False, **kw: object) -> object:
            if layout:
                layouts.append(f"{type(self).__name__}#{self.id}")
            return refresh(self, *args, layout=layout, **kw)

        monkeypatch.setattr(Widget, "refresh", counted)
        await pilot.press("f")
        await pilot.pause(0.05)
        assert app.quick and "quick: on" in str(app.screen.query_one("#lab-title").render())
        assert not [w for w in layouts if w.endswith("#lab-title")], layouts
        texts = []
        for done in range(0, 101, 3):
            running.progress.feed({"type": "progress", "done": done, "total": 100})
            app._update_indicator()
            texts.append(app.sub_title)
        monkeypatch.setattr(Widget, "refresh", refresh)
        running.finished.set()
    assert len(set(texts)) <= 11 and texts[-1].endswith("100%")  # 10 % steps, not one change per percent
