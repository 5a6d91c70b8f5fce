"""Run history with filters; mark runs (space), then diff two manifests (d) or overlay their curves (g).

Overlay takes every marked run plus the one under the cursor (up to eight), each its own series.
A break run shows its verdict (detected / missed) and, under its target, the break's title,
wrapped to the target column rather than cut.
"""

from __future__ import annotations

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from workbench.tui.app import WorkbenchApp
from workbench.tui.status import break_title, shown_status, styled, wrapped
from workbench.tui.text import esc

STATUSES = ("all", "passed", "failed", "detected", "missed", "crashed", "cancelled", "timed_out")
TITLE_WIDTH = 24  # a break title wraps at the target column's width, at least this
LIMIT = 500


class RunsScreen(Screen):
    app = getters.app(WorkbenchApp)  # typed: these screens run inside the workbench app only

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("p", "status", "Pass/fail filter"),
        Binding("space", "mark", "Mark"),
        Binding("d", "diff", "Diff"),
        Binding("g", "overlay", "Graphs overlaid"),
    ]
    HELP = "Mark runs with space; d diffs the first mark against the row, g overlays all marked runs and the row."

    def __init__(self) -> None:
        super().__init__()
        self.status_filter = 0
        self.ids: list[str] = []
        self.marked: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with Horizontal(id="filters"):
            yield Input(placeholder="target prefix, e.g. phase-00 (/ to edit, enter to apply)", id="target-filter")
            yield Static("", id="status-filter")
        yield DataTable(id="runs-table", cursor_type="row")
        yield Static("", id="marked")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#runs-table", DataTable).add_columns(" ", "id", "target", "status", "checks", "wall")
        self.reload()
        self.query_one("#runs-table").focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        from workbench.store.runs import list_runs

        prefix = self.query_one("#target-filter", Input).value.strip() or None
        status = STATUSES[self.status_filter]
        rows = list_runs(self.app.db(), target=prefix, limit=LIMIT)
        if status != "all":
            rows = [r for r in rows if shown_status(r["status"], r["kind"]) == status]
        table = self.query_one("#runs-table", DataTable)
        keep = self.current()
        table.clear()
        self.ids = [r["id"] for r in rows]
        width = max([TITLE_WIDTH, *(len(r["target"]) for r in rows)])
        for r in rows:
            checks = f"{r['checks_passed']}/{r['checks_passed'] + r['checks_failed']}"
            mark = "●" if r["id"] in self.marked else " "
            title = break_title(r)
            lines = [f"[dim]{esc(line)}[/]" for line in wrapped(title, width)] if title else []
            table.add_row(mark, r["id"], "\n".join([esc(r["target"]), *lines]),
                          styled(r["status"], r["kind"], quarantined=bool(r["quarantined"])), checks,
                          f"{r['wall_seconds'] or 0:.1f}", height=1 + len(lines))
        if keep in self.ids:
            table.move_cursor(row=self.ids.index(keep))
        self.query_one("#status-filter", Static).update(f"status: [b]{status}[/b] (p)")
        marked = (f"{len(self.marked)} marked — d diff, g overlay with the row" if self.marked
                  else "space marks runs to compare")
        self.query_one("#marked", Static).update(f"{len(rows)} run(s) · {marked} · * dirty tree")

    def current(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        return self.ids[table.cursor_row] if self.ids and 0 <= table.cursor_row < len(self.ids) else None

    def action_back(self) -> None:
        box = self.query_one("#target-filter", Input)
        if box.has_focus:
            self.query_one("#runs-table").focus()
        else:
            self.app.pop_screen()

    def action_filter(self) -> None:
        self.query_one("#target-filter", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.reload()
        self.query_one("#runs-table").focus()

    def action_status(self) -> None:
        self.status_filter = (self.status_filter + 1) % len(STATUSES)
        self.reload()

    def action_mark(self) -> None:
        run = self.current()
        if run is None:
            return
        if run in self.marked:
            self.marked.remove(run)
        else:
            self.marked.append(run)
        self.reload()

    def _pair(self) -> tuple[str, str] | None:
        run = self.current()
        first = self.marked[0] if self.marked else None
        if first is None or run is None or run == first:
            self.notify("mark a run with space, then move to another run", severity="warning")
            return None
        return first, run

    def action_diff(self) -> None:
        pair = self._pair()
        if pair:
            from workbench.tui.screens.diff import DiffScreen

            self.app.push_screen(DiffScreen(*pair))

    def action_overlay(self) -> None:
        run = self.current()
        picked = list(dict.fromkeys([*self.marked, *([run] if run else [])]))[:8]
        if len(picked) < 2:
            self.notify("mark runs with space, then g overlays them with the row", severity="warning")
            return
        from workbench.tui.screens.run_detail import RunChartsScreen

        self.app.push_screen(RunChartsScreen(picked))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        run = self.current()
        if run:
            from workbench.tui.screens.run_detail import RunScreen

            self.app.push_screen(RunScreen(run))
