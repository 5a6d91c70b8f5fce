"""Start a lab (or its break, or both side by side) and watch it live.

Runs keep going when the learner leaves this screen; coming back re-attaches to them.
Side by side (`d`), both panes plot the metric the break declares it shows (`shows:`), with
the fault's injection step marked, so the break's signature is what the learner compares.
A planned lab, or one whose needs this machine lacks, says so instead of drawing empty charts.
"""

from __future__ import annotations

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from workbench.charts.spec import marks_for
from workbench.runner.plan import PlanError
from workbench.tui import labref
from workbench.tui.app import WorkbenchApp
from workbench.tui.labref import LabRef
from workbench.tui.live import LiveRun
from workbench.tui.messages import RunFinished
from workbench.tui.text import esc as escape
from workbench.tui.widgets.run_pane import RunPane

# `m` (mine/reference) and `w` (watch) are kept free on this screen for the exercise keys.
RESERVED_KEYS = ("m", "w")


def not_runnable(ref: LabRef) -> str | None:
    """What stands between this lab and a run, in plain words (None when it can run here)."""
    if ref.status == "planned":
        needs = f" It will need: {', '.join(ref.needs)}." if ref.needs else ""
        return f"Planned: this lab's code is not written yet, so there is nothing to run.{needs}"
    if ref.needs:
        from types import SimpleNamespace

        from workbench.runner.session import skip_reason

        return skip_reason(SimpleNamespace(needs=ref.needs))  # type: ignore[arg-type]
    return None


def compare_side_by_side(a: LiveRun, b: LiveRun) -> None:
    """The split view's own healthy-vs-break comparison (the runner skipped it for the break):
    does the healthy run beside the break meet the break's hard expectations too? The answer
    goes in the break pane as `healthy_note`; the break's manifest keeps `healthy_shows_break: null`."""
    import json

    from workbench.runner.call import healthy_shows_break
    from workbench.runner.session import read_metrics

    pair = {live.request.kind: live for live in (a, b)}
    healthy, brk = pair.get("lab"), pair.get("break")
    if healthy is None or brk is None or brk.compare_healthy or brk.healthy_note:
        return
    rep = healthy.report
    if rep is None or rep.status not in ("passed", "failed") or rep.run_dir is None:
        return
    try:
        result = json.loads((rep.run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    records = healthy.records or read_metrics(rep.run_dir)
    if healthy_shows_break(brk.request, result, records):
        brk.healthy_note = "the healthy run beside it meets these expectations too: they do not detect the break"
    else:
        brk.healthy_note = "the healthy run beside it does not meet them"


class LabScreen(Screen):
    app = getters.app(WorkbenchApp)  # typed: these screens run inside the workbench app only

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "start('lab')", "Start"),
        Binding("b", "start('break')", "Break"),
        Binding("d", "start('both')", "Side by side"),
        Binding("x", "cancel", "Cancel"),
        Binding("f", "toggle_quick", "Quick"),
        Binding("m", "toggle_mine", "Mine / reference (an exercise lab)", show=False),
        Binding("w", "watch", "Watch my file: re-run mine on every save", show=False),
    ]
    HELP = "Start the lab (s), its break (b), or both side by side (d); runs keep going when you leave."

    def __init__(self, ref: LabRef, break_id: str | None = None) -> None:
        super().__init__()
        self.ref = ref
        self.break_id = break_id or (ref.breaks[0][0] if ref.breaks else None)
        self.panes: list[RunPane] = []
        self.mine = False  # run the learner's code (labs with an exercise): see workbench/exercises/tui.py
        self._watch: tuple[object, float | None] | None = None  # (timer, last mtime) while `w` is on

    @property
    def key(self) -> str:
        return self.ref.target

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static(self._title(), id="lab-title")
        with VerticalScroll(id="lab-summary-box"):
            yield Static(escape(self.ref.summary), id="lab-summary")
        yield Horizontal(id="panes")
        yield Footer(compact=True)

    def _title(self) -> str:
        quick = "[b]on[/b]" if self.app.quick else "off"
        brk = f" · break [b]{self.break_id}[/b]" if self.break_id else " · no break"
        mine = " · [b]mine[/b]" if self.mine else ""
        return f"[b]{escape(self.ref.target)}[/b] {escape(self.ref.title)} · quick: {quick}{brk}{mine}"

    def help_extra(self) -> str:
        """This lab's part of the `?` help: its break and what the split view plots."""
        lines = []
        if self.break_id:
            title = dict(self.ref.breaks).get(self.break_id, "")
            lines.append(f"Break [b]{escape(self.break_id)}[/b]: {escape(title)}.")
            shows = self.ref.shows.get(self.break_id)
            if shows:
                lines.append(
                    f"Side by side (d) plots [b]{escape(shows)}[/b] in both panes: that metric shows the break."
                )
        blocked = not_runnable(self.ref)
        if blocked:
            lines.append(escape(blocked))
        lines.append("Quick mode (f) uses the lab's quick settings: seconds instead of minutes.")
        from workbench.exercises.tui import help_text

        exercise = help_text(self.app.catalog, self.ref.target, self.app.db()) if self.ref.phase is not None else ""
        return "\n".join([*lines, exercise] if exercise else lines)

    async def on_mount(self) -> None:
        shown = [self.app.live[t] for t in self.app.lab_views.get(self.key, []) if t in self.app.live]
        if shown:
            await self._show(shown)
        else:
            await self._show_idle()

    async def _show_idle(self) -> None:
        panes = self.query_one("#panes", Horizontal)
        await panes.remove_children()
        blocked = not_runnable(self.ref)
        if blocked and self.ref.status == "planned":
            self.panes = [RunPane(self.ref.target, [], mono=self.app.mono, idle=blocked)]
        else:
            idle = "idle — press s to start" + (f" ({blocked})" if blocked else "")
            self.panes = [RunPane(self.ref.target, self.ref.charts, mono=self.app.mono, idle=idle)]
        await panes.mount(*self.panes)

    async def _show(self, lives: list[LiveRun]) -> None:
        panes = self.query_one("#panes", Horizontal)
        await panes.remove_children()
        self.panes = []
        split = len(lives) > 1
        charts = self.ref.charts_showing(self.break_id) if split else self.ref.charts
        for live in lives:
            brk = live.request.break_title if live.request.kind == "break" else None
            label = live.target + (f" · break: {brk}" if brk else " (break)" if live.request.kind == "break" else "")
            label += " (mine)" if getattr(live.request, "exercise", None) else ""
            marks = [m for c in charts[:1] for m in marks_for(c, live.request.config, "injected")]
            self.panes.append(RunPane(label, charts, mono=self.app.mono, marks=marks))
        self.set_class(split, "-split")
        await panes.mount(*self.panes)
        for pane, live in zip(self.panes, lives, strict=True):
            pane.attach(live)
        self.app.lab_views[self.key] = [live.target for live in lives]

    def running(self) -> list[LiveRun]:
        return [p.live for p in self.panes if p.live is not None and p.live.running]

    def on_run_finished(self, message: RunFinished) -> None:
        lives = [p.live for p in self.panes if p.live is not None]
        if message.live in lives and len(lives) == 2 and not any(live.running for live in lives):
            compare_side_by_side(*lives)
        for pane in self.panes:
            if pane.live is message.live or pane.live in lives:
                pane.poll()  # the verdict now, not at the next tick
        if getattr(message.live.request, "exercise", None):  # a run of the learner's code is a check attempt
            from workbench.exercises.tui import record_finished

            record_finished(self.app.catalog, message.live, self.app.db())

    async def action_start(self, which: str) -> None:
        if self.running():
            self.notify("a run is in flight: x cancels it", severity="warning")
            return
        if which in ("break", "both") and self.break_id is None:
            self.notify(f"{self.ref.target} has no break", severity="warning")
            return
        if self.mine and which in ("lab", "both"):
            await self._start_mine(both=which == "both")
            return
        choices: dict[str, list[str | None]] = {"lab": [None], "break": [self.break_id], "both": [None, self.break_id]}
        picks = choices[which]
        try:
            requests = [labref.request(self.app.catalog, self.ref, b, self.app.quick) for b in picks]
        except (PlanError, StopIteration, KeyError) as exc:
            self.notify(f"cannot run: {exc}", severity="error")
            return
        # Side by side, the healthy pane is the break's comparison: the runner does not run it again.
        split = which == "both"
        await self._show(
            [self.app.start_run(req, compare_healthy=not (split and req.kind == "break")) for req in requests]
        )

    def action_cancel(self) -> None:
        running = self.running()
        if not running:
            self.notify("nothing is running")
            return
        for live in running:
            live.cancel.set()
        self.notify(f"cancelling {', '.join(live.target for live in running)}")

    async def _start_mine(self, both: bool) -> None:
        """The learner's code (and, with `both`, the reference next to it in the split view)."""
        from workbench.exercises.tui import NotRunnable, learner_request

        try:
            requests = [learner_request(self.app.catalog, self.ref.target, self.app.quick, self.app.db())]
            if both:
                requests.append(labref.request(self.app.catalog, self.ref, None, self.app.quick))
        except (NotRunnable, PlanError) as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        await self._show([self.app.start_run(req) for req in requests])

    def action_toggle_mine(self) -> None:
        from workbench.exercises.tui import exercise_of

        if self.ref.phase is None or exercise_of(self.app.catalog, self.ref.target) is None:
            self.notify(f"{self.ref.target} has no exercise", severity="warning")
            return
        self.mine = not self.mine
        self.query_one("#lab-title", Static).update(self._title(), layout=False)  # one fixed row: no reflow (bench_tui_keys)
        self.notify("s runs your code; d shows yours next to the reference" if self.mine else "s runs the reference")

    def action_watch(self) -> None:
        from workbench.exercises.tui import learner_mtime

        if self._watch is not None:
            self._watch[0].stop()  # type: ignore[attr-defined]
            self._watch = None
            self.notify("stopped watching")
            return
        if not self.mine:
            self.action_toggle_mine()
            if not self.mine:
                return
        self._watch = (
            self.set_interval(1.0, self._poll_learner_file),
            learner_mtime(self.app.catalog, self.ref.target),
        )
        self.notify("watching your file: every save re-runs it (w stops)")

    async def _poll_learner_file(self) -> None:
        from workbench.exercises.tui import learner_mtime

        if self._watch is None or self.running():
            return
        mtime = learner_mtime(self.app.catalog, self.ref.target)
        if mtime != self._watch[1]:
            self._watch = (self._watch[0], mtime)
            await self._start_mine(both=False)

    def action_toggle_quick(self) -> None:
        self.app.quick = not self.app.quick
        self.query_one("#lab-title", Static).update(self._title(), layout=False)  # one fixed row: no reflow (bench_tui_keys)
