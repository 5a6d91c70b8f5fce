"""What the learner has done, as the TUI shows it: phase states, the next phase, the DoD list.

Phase states, DoD evidence and cards due come from `workbench.quiz.progress` (runs and
quiz attempts together), so the TUI and `workbench progress` always agree. The TUI adds
two things: "missing" for phase numbers with no content yet, and the learner's own ticks
for `manual:` items (stored by `workbench.store.checklist`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from workbench.content.loader import Catalog
from workbench.content.schema import Phase

N_PHASES = 42
STATES = ("missing", "not_started", "in_progress", "done")


def phase_states(catalog: Catalog, conn: sqlite3.Connection) -> dict[int, str]:
    """State of each of the 42 phases; phases without content yet are "missing"."""
    from workbench.quiz import progress

    states = dict.fromkeys(range(N_PHASES), "missing")
    states.update({n: str(s) for n, s in progress.phase_states(catalog, conn).items() if n in catalog.phases})
    return states


def next_phase(catalog: Catalog, states: dict[int, str]) -> int | None:
    """The lowest phase in progress; else the lowest not started whose prerequisites are done."""
    ordered = sorted(catalog.phases)
    for n in ordered:
        if states.get(n) == "in_progress":
            return n
    for n in ordered:
        if states.get(n) == "not_started" and all(states.get(r) == "done" for r in catalog.phases[n].requires):
            return n
    return next((n for n in ordered if states.get(n) != "done"), None)


def due_today(conn: sqlite3.Connection) -> int:
    from workbench.quiz import progress

    return progress.due_count(conn)


@dataclass
class DoneRow:
    """One `done_when` line as shown in the phase checklist."""

    index: int
    text: str
    kind: str  # check | quiz | manual
    state: str  # met | not_met | ticked | unticked
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.state in ("met", "ticked")


def checklist(catalog: Catalog, phase: Phase, conn: sqlite3.Connection) -> list[DoneRow]:
    """Automatic items with their evidence (runs, quiz attempts); manual items from the stored ticks."""
    from workbench.quiz import progress
    from workbench.store.checklist import ticked

    items = progress.phase_progress(catalog, conn, phase.id).items
    ticks = ticked(conn, phase.id)
    rows = []
    for i, item in enumerate(items):
        if item.kind == "manual":
            rows.append(DoneRow(i, item.text, "manual", "ticked" if i in ticks else "unticked", "space to tick"))
        else:
            rows.append(DoneRow(i, item.text, item.kind, "met" if item.met else "not_met", item.evidence))
    return rows
