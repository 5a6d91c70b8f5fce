"""One phase: its goal, its labs and breaks with their last run, the Definition-of-Done list, the chapters.

Automatic DoD items are ticked from the latest run of their lab; manual items are ticked
by the learner (space or enter) and stored in SQLite.
"""

from __future__ import annotations

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Markdown, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from workbench.content.schema import Phase
from workbench.tui.app import WorkbenchApp
from workbench.tui.messages import RunFinished
from workbench.tui.progress import DoneRow, checklist
from workbench.tui.status import styled
from workbench.tui.text import esc as escape

MARK = {"met": "[green]✓[/]", "ticked": "[green]✓[/]", "not_met": "[red]✗[/]", "unticked": "[dim]·[/]"}


def phase_markdown(phase: Phase) -> str:
    lines = []
    for ch in phase.chapters:
        lines.append(f"### {ch.title}  \n*{ch.kind} · {ch.id}*\n\n{ch.summary}\n")
    if phase.notes:
        lines.append("## Notes\n\n" + "\n".join(f"- {n}" for n in phase.notes))
    return "\n".join(lines)


class PhaseScreen(Screen):
    app = getters.app(WorkbenchApp)  # typed: these screens run inside the workbench app only

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("l", "tab('labs')", "Labs"),
        Binding("t", "tab('done')", "Checks (done when)"),
        Binding("c", "tab('chapters')", "Chapters"),
        Binding("z", "app.open('quiz')", "Quiz"),
        Binding("space", "tick", "Tick", show=False),
    ]
    HELP = "Enter opens a lab or break; space ticks a manual Done-when item."

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number
        self.rows: list[tuple[str, str | None]] = []  # (lab id, break id or None) per table row
        self.done_rows: list[DoneRow] = []

    @property
    def phase(self) -> Phase:
        return self.app.catalog.phase(self.number)

    def compose(self) -> ComposeResult:
        phase = self.phase
        yield Header(show_clock=False, icon="")
        yield Static(f"[b]{phase.key}[/b] {escape(phase.title)}", id="phase-title")
        yield Static(f"[b]Goal[/b] {escape(phase.goal.strip())}", id="phase-goal")
        requires = ", ".join(f"{r:02d}" for r in phase.requires) or "nothing"
        yield Static(
            f"[dim]requires[/] {requires}  [dim]teaches[/] {escape(', '.join(phase.teaches))}", id="phase-meta"
        )
        with TabbedContent(initial="labs"):
            with TabPane("Labs", id="labs"):
                yield DataTable(id="labs-table", cursor_type="row")
            with TabPane("Done when", id="done"):
                yield OptionList(id="done-list")
            with TabPane("Chapters", id="chapters"):
                yield Markdown(phase_markdown(phase), id="chapters-md")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.app.current_phase = self.number
        table = self.query_one("#labs-table", DataTable)
        table.add_columns("lab", "last run", "state", "title")
        self.reload()
        table.focus()

    def on_screen_resume(self) -> None:
        self.app.current_phase = self.number
        self.reload()

    def on_run_finished(self, _: RunFinished) -> None:
        if self.query("#labs-table"):  # composed (a message can arrive between push and compose)
            self.reload()


    def reload(self) -> None:
        from workbench.store.runs import latest_by_lab

        phase, conn = self.phase, self.app.db()
        latest = latest_by_lab(conn, phase.id)
        table = self.query_one("#labs-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        self.rows = []
        for lab in phase.labs:
            state = lab.status if not lab.needs else f"{lab.status}, needs {'/'.join(lab.needs)}"
            state = "[dim]planned: no code yet[/]" if lab.status == "planned" else state
            row = latest.get(f"{phase.key}/{lab.id}")
            last = styled(row["status"], row["kind"]) if row else "—"
            if lab.exercise is not None and lab.status == "ready":  # the learner's own version of this lab
                from workbench.exercises.tui import state_word

                state += f" · yours: {state_word(self.app.catalog, f'{phase.key}/{lab.id}', conn)}"
            table.add_row(lab.id, last, state, escape(lab.title))
            self.rows.append((lab.id, None))
        for brk in phase.breaks:
            row = latest.get(f"{phase.key}/{brk.id}")
            last = styled(row["status"], "break") if row else "—"  # a break's verdict: detected / missed
            table.add_row(brk.id, last, f"break of {brk.lab}", escape(brk.title))
            self.rows.append((brk.lab, brk.id))
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        self._fill_done(conn)

    def _fill_done(self, conn: object) -> None:
        self.done_rows = checklist(self.app.catalog, self.phase, conn)  # type: ignore[arg-type]
        options = self.query_one("#done-list", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        for row in self.done_rows:
            detail = f"\n    [dim]{escape(row.detail)}[/]" if row.detail else ""
            options.add_option(Option(f"{MARK[row.state]} {escape(row.text)}{detail}", id=f"done-{row.index}"))
        if self.done_rows:
            options.highlighted = min(highlighted or 0, len(self.done_rows) - 1)
        done = sum(r.done for r in self.done_rows)
        self.query_one(TabbedContent).get_tab("done").label = f"Done when {done}/{len(self.done_rows)}"

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        focus = {"labs": "#labs-table", "done": "#done-list", "chapters": "#chapters-md"}[tab]
        self.query_one(focus).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "labs-table" or event.cursor_row >= len(self.rows):
            return
        from workbench.tui import labref
        from workbench.tui.screens.lab import LabScreen

        lab_id, break_id = self.rows[event.cursor_row]
        self.app.push_screen(LabScreen(labref.phase_lab(self.app.catalog, self.number, lab_id), break_id=break_id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._toggle(event.option_index)

    def action_tick(self) -> None:
        options = self.query_one("#done-list", OptionList)
        if options.has_focus and options.highlighted is not None:
            self._toggle(options.highlighted)

    def _toggle(self, index: int) -> None:
        from workbench.store.checklist import set_tick

        row = self.done_rows[index]
        if row.kind != "manual":
            self.notify("ticked automatically from runs" if row.kind == "check" else "ticked by passing the quiz")
            return
        set_tick(self.app.db(), self.number, row.index, row.text, not row.done)
        self._fill_done(self.app.db())
