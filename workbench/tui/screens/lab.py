"""Start a lab (or its break, or both side by side) and watch it live.

Runs keep going when the learner leaves this screen; coming back re-attaches to them.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from workbench.runner.plan import PlanError
from workbench.tui import labref
from workbench.tui.labref import LabRef
from workbench.tui.live import LiveRun
from workbench.tui.text import esc as escape
from workbench.tui.widgets.run_pane import RunPane


class LabScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "start('lab')", "Start"),
        Binding("b", "start('break')", "Break"),
        Binding("d", "start('both')", "Both"),
        Binding("x", "cancel", "Cancel"),
        Binding("k", "toggle_quick", "Quick"),
    ]

    def __init__(self, ref: LabRef, break_id: str | None = None) -> None:
        super().__init__()
        self.ref = ref
        self.break_id = break_id or (ref.breaks[0][0] if ref.breaks else None)
        self.panes: list[RunPane] = []

    @property
    def key(self) -> str:
        return self.ref.target

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static(self._title(), id="lab-title")
        yield Static(escape(self.ref.summary), id="lab-summary")
        yield Horizontal(id="panes")
        yield Footer(compact=True)

    def _title(self) -> str:
        quick = "[b]on[/b]" if self.app.quick else "off"
        brk = f" · break [b]{self.break_id}[/b]" if self.break_id else " · no break"
        return f"[b]{escape(self.ref.target)}[/b] {escape(self.ref.title)} · quick: {quick}{brk}"

    async def on_mount(self) -> None:
        shown = [self.app.live[t] for t in self.app.lab_views.get(self.key, []) if t in self.app.live]
        if shown:
            await self._show(shown)
        else:
            await self._show_idle()

    async def _show_idle(self) -> None:
        panes = self.query_one("#panes", Horizontal)
        await panes.remove_children()
        self.panes = [RunPane(self.ref.target, self.ref.charts, mono=self.app.mono)]
        await panes.mount(*self.panes)

    async def _show(self, lives: list[LiveRun]) -> None:
        panes = self.query_one("#panes", Horizontal)
        await panes.remove_children()
        self.panes = []
        for live in lives:
            label = live.target + (" (break)" if live.request.kind == "break" else "")
            self.panes.append(RunPane(label, self.ref.charts, mono=self.app.mono))
        await panes.mount(*self.panes)
        for pane, live in zip(self.panes, lives, strict=True):
            pane.attach(live)
        self.app.lab_views[self.key] = [live.target for live in lives]

    def running(self) -> list[LiveRun]:
        return [p.live for p in self.panes if p.live is not None and p.live.running]

    async def action_start(self, which: str) -> None:
        if self.running():
            self.notify("a run is in flight: x cancels it", severity="warning")
            return
        if which in ("break", "both") and self.break_id is None:
            self.notify(f"{self.ref.target} has no break", severity="warning")
            return
        picks = {"lab": [None], "break": [self.break_id], "both": [None, self.break_id]}[which]
        try:
            requests = [labref.request(self.app.catalog, self.ref, b, self.app.quick) for b in picks]
        except (PlanError, StopIteration, KeyError) as exc:
            self.notify(f"cannot run: {exc}", severity="error")
            return
        await self._show([self.app.start_run(req) for req in requests])

    def action_cancel(self) -> None:
        running = self.running()
        if not running:
            self.notify("nothing is running")
            return
        for live in running:
            live.cancel.set()
        self.notify(f"cancelling {', '.join(live.target for live in running)}")

    def action_toggle_quick(self) -> None:
        self.app.quick = not self.app.quick
        self.query_one("#lab-title", Static).update(self._title())
