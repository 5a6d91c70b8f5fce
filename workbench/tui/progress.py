"""What the learner has done: phase states, the next phase, the DoD checklist, cards due.

Two seams for work built elsewhere:
- `workbench.quiz.progress.phase_states(catalog, conn) -> {phase_id: state}` replaces the
  run-only rule below when that module exists (it can count quizzes too).
- `workbench.quiz.review.due_count(conn) -> int` gives "due today" once review cards exist.
Until then a phase is "in progress" when any of its labs ran, "done" when the latest run of
every runnable ready lab passed, and no cards are due.
"""

from __future__ import annotations

import importlib
import importlib.util
import sqlite3
from dataclasses import dataclass
from typing import Any

from workbench.content.loader import Catalog
from workbench.content.schema import Check, Lab, Phase
from workbench.runner.checks import compare

N_PHASES = 42
STATES = ("missing", "not_started", "in_progress", "done")


def _optional(module: str, attr: str) -> Any:
    """`module.attr` when that module exists and defines it, else None (a seam, not an error)."""
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except ModuleNotFoundError:
        return None
    return getattr(importlib.import_module(module), attr, None)


def runnable(lab: Lab) -> bool:
    """A lab the runner can run to a verdict: ready, with an entry, not a manual exercise."""
    return lab.status == "ready" and bool(lab.entry) and "manual" not in lab.needs


def latest_runs(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """The newest run per target (phase labs, breaks and experiments): {target: row}."""
    from workbench.store.db import ensure
    from workbench.store.runs import SCHEMA

    ensure(conn, SCHEMA)
    rows = conn.execute(
        "SELECT id, target, phase, lab, kind, status, quarantined, started_at FROM runs ORDER BY started_at, id"
    ).fetchall()
    return {row["target"]: dict(row) for row in rows}


def _state_from_runs(phase: Phase, latest: dict[str, dict[str, Any]]) -> str:
    mine = [t for t in latest if t.startswith(phase.key + "/")]
    if not mine:
        return "not_started"
    labs = [lab for lab in phase.labs if runnable(lab)]
    passed = all(latest.get(f"{phase.key}/{lab.id}", {}).get("status") == "passed" for lab in labs)
    return "done" if labs and passed else "in_progress"


def phase_states(catalog: Catalog, conn: sqlite3.Connection) -> dict[int, str]:
    """State of each of the 42 phases; phases without content yet are "missing"."""
    external = _optional("workbench.quiz.progress", "phase_states")
    states = dict.fromkeys(range(N_PHASES), "missing")
    if external is not None:
        states.update({n: s for n, s in external(catalog, conn).items() if n in catalog.phases})
        return states
    latest = latest_runs(conn)
    for number, phase in catalog.phases.items():
        states[number] = _state_from_runs(phase, latest)
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


def due_today(conn: sqlite3.Connection) -> int | None:
    """Review cards due today, or None while the review-card store does not exist."""
    counter = _optional("workbench.quiz.review", "due_count")
    return None if counter is None else int(counter(conn))


@dataclass
class DoneRow:
    """One `done_when` line as shown in the phase checklist."""

    index: int
    text: str
    kind: str  # check | quiz | manual
    state: str  # met | met_dirty | not_met | no_run | ticked | unticked | pending
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.state in ("met", "ticked")


def checklist(phase: Phase, conn: sqlite3.Connection) -> list[DoneRow]:
    """Automatic items from the latest run's results; manual items from the stored ticks."""
    from workbench.store.checklist import ticked
    from workbench.store.runs import get_manifest, latest_by_lab

    latest = latest_by_lab(conn, phase.id)
    ticks = ticked(conn, phase.id)
    rows: list[DoneRow] = []
    for i, item in enumerate(phase.done_when):
        if item.manual:
            rows.append(DoneRow(i, item.text, "manual", "ticked" if i in ticks else "unticked", "space to tick"))
        elif item.quiz:
            rows.append(DoneRow(i, item.text, "quiz", "pending", "graded by the quiz (z)"))
        elif item.check is not None:
            dc = item.check
            run = latest.get(f"{phase.key}/{dc.lab}")
            if run is None:
                rows.append(DoneRow(i, item.text, "check", "no_run", f"run {dc.lab}"))
                continue
            found = get_manifest(conn, run["id"])
            manifest = found[0] if found else {}
            actual = _actual(manifest, dc.metric)
            ok = compare(actual, dc.op, dc.value, dc.tol)
            check = Check(metric=dc.metric, op=dc.op, value=dc.value)
            detail = f"{check.label}: got {actual!r} in {run['id']}"
            if ok and run.get("quarantined"):
                rows.append(DoneRow(i, item.text, "check", "met_dirty", detail + " (dirty tree: quarantined)"))
            else:
                rows.append(DoneRow(i, item.text, "check", "met" if ok else "not_met", detail))
    return rows


def _actual(manifest: dict[str, Any], metric: str) -> Any:
    summary = manifest.get("results_summary", {})
    if metric in summary:
        return summary[metric]
    for chk in manifest.get("checks", []):
        if chk.get("metric") == metric:
            return chk.get("actual")
    return None
