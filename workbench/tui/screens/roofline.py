"""This machine's roofline: ceilings as lines, ops (built-in and recorded by labs) as labelled points.

The measurement is cached in the workspace (workbench.roofline.measure_or_load); loading it,
or measuring when there is no cache or the learner presses `m`, happens on a thread worker
so the UI keeps answering keys while bandwidth and GEMM are timed (10-30 s). The chart is the
same spec `workbench roofline` draws and writes as PNG.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from workbench.tui.text import esc as escape
from workbench.tui.widgets.charts import ChartView


def _store() -> Path:
    from workbench.workspace import home

    return home()


def summary(data: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """Two short lines: where the numbers come from, and the ceilings with the ridge point."""
    from workbench.roofline import LAB_OPS, OPS

    when = f"cached {data.get('measured_at', '?')}" if data.get("cached") else "measured now"
    n_ops = sum(r["series"] == OPS for r in records)
    n_lab = sum(r["series"] == LAB_OPS for r in records)
    cpu = data.get("profile", {}).get("cpu_model", "this machine")
    return (f"[b]{escape(cpu)}[/b] · {when}{' (quick)' if data.get('quick') else ''} · {n_ops} ops"
            f"{f' + {n_lab} from labs' if n_lab else ''}\n"
            f"DRAM [b]{data['bandwidth']['dram_gbs']:.1f}[/b] GB/s · peak [b]{data['peak']['gflops']:.0f}[/b] GFLOP/s · "
            f"ridge [b]{data['ridge']:.2f}[/b] FLOP/B: left of it memory-bound, right compute-bound")


class RooflineScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("m", "measure", "Re-measure"),
    ]

    DEFAULT_CSS = """
    RooflineScreen #roof-info { height: auto; max-height: 3; padding: 0 1; }
    RooflineScreen #roof-chart { height: 1fr; }
    RooflineScreen ChartView { height: 1fr; min-height: 8; }
    """

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
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.load(remeasure=False)

    def load(self, remeasure: bool) -> None:
        """Read the cache, or measure, on a thread worker; the screen says which is happening."""
        from workbench.roofline import CACHE

        if self.busy:
            self.notify("the roofline is being measured already")
            return
        measuring = remeasure or not (_store() / CACHE).exists()
        self.busy = True
        self._info("[cyan]measuring bandwidth, peak and ops — about 10-30 s; keys still work[/]" if measuring
                   else "loading the cached roofline…")
        quick = bool(getattr(self.app, "quick", False))
        self.run_worker(lambda: self._work(remeasure, quick), thread=True, group="roofline", name="roofline",
                        exit_on_error=False)

    def _work(self, remeasure: bool, quick: bool) -> None:
        from workbench.roofline import chart_and_records, lab_points, measure_or_load

        try:
            store = _store()
            data = measure_or_load(store, remeasure=remeasure, quick=quick)
            chart, records = chart_and_records(data, lab_points(store))
        except Exception as exc:  # noqa: BLE001 - shown on screen; the UI must survive
            with contextlib.suppress(RuntimeError):  # the app may have closed meanwhile
                self.app.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._show, data, chart, records)

    def _info(self, text: str) -> None:
        self.query_one("#roof-info", Static).update(text)

    def _failed(self, message: str) -> None:
        self.busy, self.error = False, message
        if not self.is_mounted:  # the learner left while it ran
            return
        self._info(f"[red]roofline failed:[/] {escape(message)} [dim](m retries)[/]")

    async def _show(self, data: dict[str, Any], chart: Any, records: list[dict[str, Any]]) -> None:
        self.busy, self.error = False, None
        self.data, self.records = data, records
        if not self.is_mounted:
            return
        self._info(summary(data, records))
        box = self.query_one("#roof-chart", Vertical)
        await box.remove_children()
        await box.mount(ChartView(chart, lambda: self.records, mono=getattr(self.app, "mono", False)))

    def action_measure(self) -> None:
        self.load(remeasure=True)
