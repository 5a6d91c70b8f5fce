"""One run on screen: a title, a progress line, the chart grid, and the outcome and checks at the end.

The pane polls its `LiveRun` four times a second (the data is written by the worker
thread); the chart grid decides whether that poll turns into a redraw. The outcome of a
finished run is written in the pane itself (not a toast over the check table).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench import run_progress
from workbench.charts.spec import Mark
from workbench.tui.live import LiveRun
from workbench.tui.status import STATUS_STYLE, styled
from workbench.tui.text import esc as escape
from workbench.tui.widgets.charts import ChartGrid
from workbench.tui.widgets.checks import CheckTable, fmt

POLL_SECONDS = 0.25


def outcome(live: LiveRun) -> str:
    """The verdict line of a finished run: `passed · 3/3 checks · 12.4 s`, or what went wrong.

    A break run reads `detected` / `missed` (its checks are the break's expectations)."""
    rep = live.report
    parts = [styled(live.status, live.request.kind if rep is not None else None, bold=True)]
    checks = list(getattr(rep, "checks", None) or [])
    if checks:
        parts.append(f"{sum(c['passed'] for c in checks)}/{len(checks)} checks")
    parts.append(f"{live.elapsed:.1f} s")
    reason = getattr(rep, "reason", None) if rep is not None else None
    if reason:
        parts.append(escape(reason))
    if live.error:
        parts.append(escape(live.error))
    return " · ".join(parts)


def progress_line(live: LiveRun) -> str:
    """`running 12 s · ███░░ 42% · 2 of 4 · scale · ETA 30 s · train_loss=2.1`, or the verdict."""
    if not live.running:
        return outcome(live)
    status = live.status
    style = STATUS_STYLE.get(status, "white")
    parts = [f"[{style}]{status}[/] {run_progress.fmt_seconds(live.elapsed)}"]
    line = run_progress.summary(live.progress, width=8)
    if line:
        parts.append(escape(line))
    if live.request.kind == "break" and live.compare_healthy and not live.version:
        parts.append("healthy lab first (unless it just ran), to compare")
    last = live.records[-1] if live.records else None
    if last is not None:
        shown = [f"{k}={fmt(v)}" for k, v in last.items() if k != "step" and isinstance(v, (int, float))
                 and not isinstance(v, bool)][:2]
        if shown:
            parts.append(escape(" ".join(shown)))
    return " · ".join(parts)


class RunPane(Vertical):
    def __init__(self, label: str, charts: list[Any], *, mono: bool = False, idle: str = "idle — press s to start",
                 marks: list[Mark] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label, self.charts, self.mono, self.idle, self.marks = label, charts, mono, idle, marks or []
        self.live: LiveRun | None = None
        self._shown_final = False
        self._last_line = ""
        self._last_note = ""

    def compose(self) -> ComposeResult:
        yield Static(escape(self.label), classes="pane-title")
        yield Static(f"[dim]{self.idle}[/]", classes="pane-progress")
        if self.charts:
            yield ChartGrid(self.charts, self._records, mono=self.mono, marks=self.marks)
        yield CheckTable()
        yield Static("", classes="pane-runid")
        yield Static("", classes="pane-note")  # the split view's healthy-vs-break comparison

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
        if self.charts:
            self.grid.tick(live.version, force=finished and not self._shown_final)
        note = live.healthy_note or ""
        if note != self._last_note:
            self._last_note = note
            self.query_one(".pane-note", Static).update(escape(note))
            self.set_class(bool(note), "-noted")
        if finished and not self._shown_final:
            self._shown_final = True
            rep = live.report
            if rep is not None:
                self.query_one(CheckTable).show(rep.checks)
                self.add_class("-finished")
                manifest = getattr(rep, "manifest", None)
                run_id = manifest["id"] if manifest else "no run directory"
                self.query_one(".pane-runid", Static).update(escape(f"run {run_id}"))
