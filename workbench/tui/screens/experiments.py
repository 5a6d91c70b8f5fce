"""The standalone experiments (same lab schema as phases) with their last run; enter opens one.

The workbench's own `selftest-*` experiments are left out (they test the runner, not the course);
WORKBENCH_SELFTEST=1 lists them (`workbench tui selftest-stream` opens one directly either way).

The lab screen they open streams the experiment's charts live, as it does for phase labs.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from workbench.tui.app import WorkbenchApp
from workbench.tui.messages import RunFinished
from workbench.tui.status import STATUS_STYLE, styled
from workbench.tui.text import esc as escape


def latest_runs(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """The newest run per target outside the phases (experiments and their breaks): {target: row}."""
    from workbench.store.runs import SCHEMA, ensure

    ensure(conn, SCHEMA)
    rows = conn.execute(
        "SELECT target, kind, status, started_at, checks_passed, checks_failed FROM runs WHERE phase IS NULL"
        " ORDER BY started_at ASC, id ASC"
    ).fetchall()
    return {row["target"]: dict(row) for row in rows}


def last_run_text(row: dict[str, Any] | None, live: Any = None) -> str:
    if live is not None and live.running:
        return f"[{STATUS_STYLE['running']}]{live.status}[/]"
    if row is None:
        return "[dim]never run[/]"
    checks = f"{row['checks_passed']}/{row['checks_passed'] + row['checks_failed']} checks"
    return f"{styled(row['status'], row.get('kind'))} [dim]{checks} · {row['started_at'][:16].replace('T', ' ')}[/]"


HIDDEN_PREFIX = "selftest-"


class ExperimentsScreen(Screen):
    app = getters.app(WorkbenchApp)  # typed: these screens run inside the workbench app only

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("[b]Experiments[/b] — enter opens one, s there starts it", classes="screen-title")
        yield OptionList(id="experiments")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()
        self.query_one(OptionList).focus()

    def on_screen_resume(self) -> None:
        self.reload()

    def on_run_finished(self, _: RunFinished) -> None:
        if self.query(OptionList):  # composed (a message can arrive between push and compose)
            self.reload()

    def reload(self) -> None:
        latest = latest_runs(self.app.db())
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        for exp_id, exp in sorted(self.app.catalog.experiments.items()):
            if exp_id.startswith(HIDDEN_PREFIX) and not os.environ.get("WORKBENCH_SELFTEST"):
                continue  # the workbench's own self-tests, not for learners
            last = last_run_text(latest.get(exp_id), self.app.live.get(exp_id))
            needs = f" [dim]needs {'/'.join(exp.needs)}[/]" if exp.needs else ""
            options.add_option(
                Option(f"[b]{escape(exp_id)}[/b]  {last}{needs}\n  [dim]{escape(exp.title)}[/]", id=exp_id)
            )
        if options.option_count:
            options.highlighted = min(highlighted or 0, options.option_count - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.app.open_lab_target(event.option.id)
