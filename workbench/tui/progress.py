"""What the learner has done, as the TUI shows it: phase states, the next phase, the DoD list.

Phase states, DoD evidence and cards due come from `workbench.progress` (runs and
quiz attempts together), so the TUI and `workbench progress` agree on the automatic items.
The TUI adds: "missing" for phase numbers with no content yet, "no_lab" for phases whose
labs are all planned (nothing to run yet, so not "not started"), and the learner's own
ticks for `manual:` items (stored by `workbench.store.checklist`): a phase is only done
when those are ticked too.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

from workbench.content.loader import Catalog
from workbench.content.schema import Phase

N_PHASES = 42
STATES = ("missing", "no_lab", "not_started", "in_progress", "done")


def runnable(phase: Phase) -> bool:
    return any(lab.status == "ready" for lab in phase.labs)


def phase_states(catalog: Catalog, conn: sqlite3.Connection) -> dict[int, str]:
    """State of each of the 42 phases: missing (no content), no_lab (nothing runnable yet), or
    not_started / in_progress / done, where done also needs every manual item ticked."""
    from workbench import progress

    states = dict.fromkeys(range(N_PHASES), "missing")
    states.update({n: str(s) for n, s in progress.phase_states(catalog, conn).items() if n in catalog.phases})
    for n, phase in catalog.phases.items():
        if states.get(n) == "done" and not all(row.done for row in checklist(catalog, phase, conn)):
            states[n] = "in_progress"  # automatic evidence is in, a manual item is still unticked
        elif states.get(n) == "not_started" and not runnable(phase):
            states[n] = "no_lab"
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
    return next((n for n in ordered if states.get(n) not in ("done", "no_lab")), None)


def due_today(conn: sqlite3.Connection, today: date | None = None) -> int:
    from workbench import progress

    return progress.due_count(conn, today)


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
    from workbench import progress
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
