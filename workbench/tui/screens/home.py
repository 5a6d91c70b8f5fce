"""Home: the 42-phase strip, the next phase, review cards due, and the latest runs.

Until the catalog has loaded it says so (no "no content yet" flash). Runs in flight are
listed first in the recent table, and the table refreshes when any run finishes.
"""

from __future__ import annotations

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.tui.app import WorkbenchApp
from workbench.tui.messages import CatalogLoaded, RunFinished, RunStarted
from workbench.tui.progress import due_today, next_phase, phase_states
from workbench.tui.status import STATUS_STYLE, break_title, styled
from workbench.tui.text import esc as escape
from workbench.tui.widgets.errors import ErrorPanel
from workbench.tui.widgets.strip import GLYPH, PhaseStrip

STATE_WORDS = {"missing": "no content yet", "no_lab": "no runnable lab yet", "not_started": "not started",
               "in_progress": "in progress", "done": "done"}
RECENT = 12
TITLE_CHARS = 28  # a break's title after its target in the recent runs, cut with … past this


def run_row(r: dict) -> tuple[str, str, str, str, str]:
    """One recent run: a break shows its verdict and its title after the target (one line here;
    the runs screen shows the whole title)."""
    checks = f"{r['checks_passed']}/{r['checks_passed'] + r['checks_failed']}"
    status = styled(r["status"], r.get("kind"), quarantined=bool(r.get("quarantined")))
    started = r["started_at"][5:16].replace("T", " ")
    title = break_title(r)
    target = escape(r["target"]) + (f" [dim]{escape(clip(title, TITLE_CHARS))}[/]" if title else "")
    return target, status, checks, f"{r['wall_seconds'] or 0:.1f}s", started


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


class HomeScreen(Screen):
    app = getters.app(WorkbenchApp)  # typed: these screens run inside the workbench app only

    BINDINGS = [
        Binding("n", "next_phase", "Next phase"),
        Binding("e", "app.open('experiments')", "Exps"),
        Binding("z", "app.open('quiz')", "Quiz"),
        Binding("v", "app.open('review')", "Review"),
        Binding("o", "app.open('roofline')", "Roofline"),
        Binding("tab", "app.focus_next", "Focus", show=False),
    ]
    HELP = "The 42 phases (←→ and j/k move, enter opens one), the next phase, review cards due, recent runs."

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[int, str] = {}
        self.next: int | None = None
        self.run_ids: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield ErrorPanel(id="errors", classes="-empty")
        with Vertical(id="progress-box"):
            yield PhaseStrip(id="strip")
            yield Static(
                f"{GLYPH['done']} done {GLYPH['in_progress']} in progress {GLYPH['not_started']} not started"
                f" {GLYPH['no_lab']} no lab yet {GLYPH['missing']} to come · ←→ j/k move, enter, ? help",
                id="legend",
            )
            yield Static("loading content…", id="phase-info")
        yield Static("", id="next")
        yield DataTable(id="recent", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#progress-box").border_title = "Progress"
        table = self.query_one("#recent", DataTable)
        table.border_title = "Recent runs (enter: open)"
        table.add_columns("target", "status", "checks", "wall", "started (UTC)")
        self.query_one(PhaseStrip).focus()
        if self.app.catalog is not None:
            self.reload()

    def on_screen_resume(self) -> None:
        if self.app.catalog is not None:
            self.reload()

    def _ready(self) -> bool:
        return self.app.catalog is not None and bool(self.query("#recent"))

    def on_catalog_loaded(self, _: CatalogLoaded) -> None:
        if self._ready():
            self.reload()

    def on_run_started(self, _: RunStarted) -> None:
        if self._ready():
            self._fill_recent(self.app.db())

    def on_run_finished(self, _: RunFinished) -> None:
        if self._ready():
            self.reload()

    def reload(self) -> None:
        catalog = self.app.catalog
        conn = self.app.db()
        self.query_one(ErrorPanel).show(catalog.errors)
        self.states = phase_states(catalog, conn)
        self.next = next_phase(catalog, self.states)
        strip = self.query_one(PhaseStrip)
        strip.set_states(self.states)
        counts = {s: sum(1 for v in self.states.values() if v == s) for s in STATE_WORDS}
        self.query_one("#progress-box").border_title = (
            f"Progress: {counts['done']} done · {counts['in_progress']} in progress · "
            f"{counts['not_started']} to start · {counts['no_lab']} no lab · {counts['missing']} to come"
        )
        self._describe(strip.cursor)
        due = due_today(conn, getattr(self.app, "as_of", None))
        due_text = f"{due} review card{'s' if due != 1 else ''}"
        nxt = "all done" if self.next is None else f"phase-{self.next:02d} {escape(catalog.phases[self.next].title)}"
        self.query_one("#next", Static).update(
            f"[b]Next:[/b] {nxt} [dim](n)[/]\n[b]Due today:[/b] {due_text} [dim](v)[/]"
        )
        self._fill_recent(conn)

    def _fill_recent(self, conn: object) -> None:
        from workbench.store.runs import list_runs

        rows = list_runs(conn, limit=RECENT)  # type: ignore[arg-type]
        table = self.query_one("#recent", DataTable)
        table.clear()
        self.run_ids = []
        for live in self.app.in_flight():
            self.run_ids.append("")  # no run id until its manifest exists
            table.add_row(
                escape(live.target), f"[{STATUS_STYLE['running']}]{live.status}[/]", "", f"{live.elapsed:.0f}s", "now"
            )
        self.run_ids += [r["id"] for r in rows]
        for r in rows:
            table.add_row(*run_row(r))
        if not self.run_ids:
            table.add_row("no runs yet — open a phase and press s on a lab", "", "", "", "")

    def _describe(self, number: int) -> None:
        catalog = self.app.catalog
        if catalog is None:
            return
        state = self.states.get(number, "missing")
        phase = catalog.phases.get(number)
        title = escape(phase.title) if phase else "not written yet"
        self.query_one("#phase-info", Static).update(f"[b]phase-{number:02d}[/b] {title} — {STATE_WORDS[state]}")

    def on_phase_strip_highlighted(self, message: PhaseStrip.Highlighted) -> None:
        self._describe(message.phase)

    def on_phase_strip_selected(self, message: PhaseStrip.Selected) -> None:
        self.open_phase(message.phase)

    def open_phase(self, number: int) -> None:
        catalog = self.app.catalog
        if catalog is None or number not in catalog.phases:
            self.notify(f"phase-{number:02d} has no content yet", severity="warning")
            return
        from workbench.tui.screens.phase import PhaseScreen

        self.app.push_screen(PhaseScreen(number))

    def action_next_phase(self) -> None:
        if self.next is not None:
            self.open_phase(self.next)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.cursor_row < len(self.run_ids) and self.run_ids[event.cursor_row]:
            from workbench.tui.screens.run_detail import RunScreen

            self.app.push_screen(RunScreen(self.run_ids[event.cursor_row]))
