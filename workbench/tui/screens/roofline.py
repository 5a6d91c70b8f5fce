"""This machine's roofline: ceilings as lines, ops (built-in and recorded by labs) as labelled points.

The measurement is cached in the workspace (workbench.roofline). A thread worker reads the
cache; when there is none for this machine, or the learner presses `m`, it measures in a
child process (10-30 s), so the UI keeps answering keys and quitting kills the measurement
instead of waiting for it. The chart is the same spec `workbench roofline` draws and writes
as PNG.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.tui.text import esc as escape
from workbench.tui.widgets.charts import ChartView

MEASURING = "[cyan]measuring bandwidth, peak and ops — about 10-30 s; keys still work[/]"
MEASURE_CODE = ("import sys; from workbench.roofline import measure_or_load; "
                "measure_or_load(sys.argv[1], remeasure=True, quick=sys.argv[2] == '1')")


def measure_in_subprocess(app: Any, store: Path, quick: bool) -> None:
    """Measure and cache in a child process the app kills if the learner quits meanwhile."""
    from engine.core.manifest.provenance import thread_env
    from workbench.tui.helpers import run_helper

    # the labs' thread count (the runner's default), so the roof and the labs' points share conditions
    rc, err = run_helper(app, [sys.executable, "-c", MEASURE_CODE, str(store), "1" if quick else "0"],
                         env=thread_env(None))
    if rc != 0:
        raise RuntimeError(f"measurement exited with {rc}: {err.splitlines()[-1] if err else 'no message'}")


def _store() -> Path:
    from workbench.workspace import home

    return home()


def summary(data: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Two short lines: where the numbers come from, and the ceilings with the ridge point."""
    from workbench.roofline import LAB_OPS, OPS, dram_roof, dram_roof_ridge, notes

    when = f"cached {data.get('measured_at', '?')}" if data.get("cached") else "measured now"
    n_ops = sum(r["series"] == OPS for r in records)
    n_lab = sum(r["series"] == LAB_OPS for r in records)
    cpu = data.get("profile", {}).get("cpu_model", "this machine")
    return (f"[b]{escape(cpu)}[/b] · {when}{' (quick)' if data.get('quick') else ''} · {n_ops} ops"
            f"{f' + {n_lab} from labs' if n_lab else ''}\n"
            f"DRAM [b]{dram_roof(data):.1f}[/b] GB/s · peak [b]{data['peak']['gflops']:.0f}[/b] GFLOP/s · "
            f"ridge [b]{dram_roof_ridge(data):.2f}[/b] FLOP/B: left of it memory-bound, right compute-bound"
            + "".join(f"\n[yellow]{escape(line)}[/]" for line in notes(records)))


def op_rows(data: dict[str, Any], records: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per op point: intensity, GFLOP/s, which ceiling bounds it, and how close it gets."""
    from engine.systems.hardware.roofline import Roofline
    from workbench.roofline import LAB_OPS, OPS, dram_roof

    roof = Roofline(data["peak"]["gflops"], dram_roof(data))
    rows: list[tuple[str, ...]] = []
    for r in records:
        if r["series"] in (OPS, LAB_OPS):
            i, g = r["intensity"], r["gflops"]
            rows.append((str(r["name"]), f"{i:.3g}", f"{g:.3g}", roof.bound(i), f"{g / roof.attainable(i):.0%}",
                         "lab" if r["series"] == LAB_OPS else "built-in"))
    return rows


class RooflineScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("u", "measure", "Update (re-measure)"),
        Binding("g", "toggle_table", "Graphs or table"),
    ]


    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Any] | None = None
        self.records: list[dict[str, Any]] = []
        self.busy = False
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("", id="roof-info")
        yield Vertical(id="roof-chart")
        yield DataTable(id="roof-table", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#roof-table", DataTable).add_columns("op", "FLOP/B", "GFLOP/s", "bound", "of roof", "from")

    def on_screen_resume(self) -> None:
        """On every showing (the app keeps one instance): re-read the cache and the labs' points."""
        if not self.busy:
            self.load(remeasure=False)

    def load(self, remeasure: bool) -> None:
        """Read the cache, or measure, on a thread worker; the screen says which is happening."""
        from workbench.roofline import CACHE

        if self.busy:
            self.notify("the roofline is being measured already")
            return
        measuring = remeasure or not (_store() / CACHE).exists()
        self.busy = True
        self._info(MEASURING if measuring else "loading the cached roofline…")
        quick = bool(getattr(self.app, "quick", False))
        self.run_worker(lambda: self._work(remeasure, quick), thread=True, group="roofline", name="roofline",
                        exit_on_error=False)

    class Loaded(Message):
        def __init__(self, data: dict[str, Any], chart: Any, records: list[dict[str, Any]]) -> None:
            super().__init__()
            self.data, self.chart, self.records = data, chart, records

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Measuring(Message):
        pass

    def _work(self, remeasure: bool, quick: bool) -> None:
        """The worker body. It only posts messages (thread-safe, never blocking): a worker that
        waited on the UI thread (call_from_thread) would hang if the app quit meanwhile."""
        from workbench.roofline import chart_and_records, lab_points, load_cached

        try:
            store = _store()
            data = None if remeasure else load_cached(store)
            if data is None:
                self.post_message(self.Measuring())
                measure_in_subprocess(self.app, store, quick)
                data = load_cached(store)
                if data is None:
                    raise RuntimeError(f"the measurement did not leave a readable cache under {store}")
                data["cached"] = False
            chart, records = chart_and_records(data, lab_points(store))
        except Exception as exc:  # noqa: BLE001 - shown on screen; the UI must survive
            self.post_message(self.Failed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Loaded(data, chart, records))

    def on_roofline_screen_measuring(self, _: Measuring) -> None:
        self._info(MEASURING)

    def on_roofline_screen_failed(self, message: Failed) -> None:
        self._failed(message.error)

    async def on_roofline_screen_loaded(self, message: Loaded) -> None:
        await self._show(message.data, message.chart, message.records)

    def _info(self, text: str) -> None:
        self.query_one("#roof-info", Static).update(text)

    def _failed(self, message: str) -> None:
        self.busy, self.error = False, message
        self._info(f"[red]roofline failed:[/] {escape(message)} [dim](u retries)[/]")

    async def _show(self, data: dict[str, Any], chart: Any, records: list[dict[str, Any]]) -> None:
        self.busy, self.error = False, None
        self.data, self.records = data, records
        self._info(summary(data, records))
        box = self.query_one("#roof-chart", Vertical)
        await box.remove_children()
        await box.mount(ChartView(chart, lambda: self.records, mono=getattr(self.app, "mono", False)))
        table = self.query_one("#roof-table", DataTable)
        table.clear()
        for row in op_rows(data, records):
            table.add_row(*row)

    def action_toggle_table(self) -> None:
        self.toggle_class("-table")
        if self.has_class("-table"):
            self.query_one("#roof-table", DataTable).focus()

    def action_measure(self) -> None:
        self.load(remeasure=True)
