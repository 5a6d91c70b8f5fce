"""One run on screen: a title, a progress line, the chart grid, and the checks at the end.

The pane polls its `LiveRun` ten times a second (the data is written by the worker
thread); the chart grid decides whether that poll turns into a redraw.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench.tui.live import LiveRun
from workbench.tui.text import esc as escape
from workbench.tui.widgets.charts import ChartGrid
from workbench.tui.widgets.checks import CheckTable, fmt

STATUS_STYLE = {"passed": "green", "failed": "red", "crashed": "red", "timed_out": "red", "cancelled": "yellow",
                "skipped": "yellow", "planned": "yellow", "running": "cyan", "cancelling": "yellow", "idle": "dim"}
POLL_SECONDS = 0.1


def bar(done: int, total: int, width: int = 8) -> str:
    if total <= 0:
        return ""
    filled = round(width * min(done, total) / total)
    return "█" * filled + "░" * (width - filled) + f" {100 * done / total:3.0f}%"


def progress_line(live: LiveRun) -> str:
    """`running 1.2 s · step 240 · ███░░ 24% · loss=0.52 acc=0.4`, or the final verdict."""
    status = live.status
    style = STATUS_STYLE.get(status, "white")
    parts = [f"[{style}]{status}[/] {live.elapsed:.1f} s"]
    last = live.records[-1] if live.records else None
    if live.total:
        parts.append(bar(live.done, live.total))
    if last is not None and "step" in last:
        parts.append(f"step {last['step']}")
    if last is not None:
        shown = [f"{k}={fmt(v)}" for k, v in last.items() if k != "step" and isinstance(v, (int, float))][:3]
        if shown:
            parts.append(escape(" ".join(shown)))
    if not live.running:
        rep = live.report
        if rep is not None and rep.reason:
            parts.append(escape(rep.reason))
        if live.error:
            parts.append(escape(live.error))
    return " · ".join(parts)


class RunPane(Vertical):
    DEFAULT_CSS = """
    RunPane { height: 1fr; }
    RunPane > .pane-title { height: 1; text-style: bold; }
    RunPane > .pane-progress { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    RunPane > .pane-runid { height: 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    RunPane > CheckTable { display: none; }
    RunPane.-finished > CheckTable { display: block; }
    """

    def __init__(self, label: str, charts: list[Any], *, mono: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label, self.charts, self.mono = label, charts, mono
        self.live: LiveRun | None = None
        self._shown_final = False
        self._last_line = ""

    def compose(self) -> ComposeResult:
        yield Static(escape(self.label), classes="pane-title")
        yield Static("[dim]idle — press s to start[/]", classes="pane-progress")
        yield ChartGrid(self.charts, self._records, mono=self.mono)
        yield CheckTable()
        yield Static("", classes="pane-runid")

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self.poll)

    def _records(self) -> list[dict[str, Any]]:
        return self.live.records if self.live is not None else []

    @property
    def grid(self) -> ChartGrid:
        return self.query_one(ChartGrid)

    def attach(self, live: LiveRun) -> None:
        self.live = live
        self._shown_final = False
        self.remove_class("-finished")
        self.query_one(CheckTable).clear()
        self.query_one(".pane-runid", Static).update("")
        self.poll()

    def poll(self) -> None:
        live = self.live
        if live is None:
            return
        line = progress_line(live)
        if line != self._last_line:  # a one-row line: no layout pass needed
            self._last_line = line
            self.query_one(".pane-progress", Static).update(line, layout=False)
        finished = not live.running
        self.grid.tick(live.version, force=finished and not self._shown_final)
        if finished and not self._shown_final:
            self._shown_final = True
            rep = live.report
            if rep is not None:
                self.query_one(CheckTable).show(rep.checks)
                self.add_class("-finished")
                run_id = rep.manifest["id"] if rep.manifest else "no run directory"
                self.query_one(".pane-runid", Static).update(escape(f"run {run_id}"))
