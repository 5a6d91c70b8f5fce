"""Where the learner stands on each of the 42 phases, from the run index and the quiz attempts.

A phase is
* `done` when every automatable Definition-of-Done item holds: each `check:` item is met by
  at least one run of that lab that is not quarantined (clean git tree) and finished
  (status passed or failed: the lab ran to the end) — for a lab with an exercise, a run of the
  learner's own code (`impl: learner`; reference runs are a demonstration) — and the phase's quiz has an attempt
  scoring at least its pass mark. `manual:` items are listed but cannot be verified here.
* `in_progress` when anything happened: a run of the phase or a quiz attempt;
* `not_started` otherwise (also for phase numbers with no content yet).

For the TUI: `phase_states(catalog, conn)` → {phase: State}, `details(catalog, conn)` →
{phase: PhaseProgress} with the per-item evidence, `due_count(conn, today)` → cards due.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from workbench.content.loader import Catalog
from workbench.content.schema import DoneCheck, Phase, Quiz
from workbench.exercises.progress import exercise_rows, has_exercise, is_learner_run
from workbench.quiz import attempts, cards
from workbench.runner.checks import compare
from workbench.store import runs as run_index
from workbench.store.db import ensure

N_PHASES = 42
FINISHED = ("passed", "failed")


class State(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    DONE = "done"


@dataclass(frozen=True)
class DodItem:
    text: str
    kind: str  # check | quiz | manual
    met: bool | None  # None: manual, cannot be verified
    evidence: str  # run id and value, the quiz score, or why it is not met


@dataclass(frozen=True)
class PhaseProgress:
    phase: int
    title: str
    state: State
    items: list[DodItem] = field(default_factory=list)
    n_runs: int = 0
    quiz_id: str | None = None
    quiz_best: float | None = None  # best score, 0..1
    quiz_passed: bool = False
    has_content: bool = True  # False: no phase file for this number yet
    exercises: list[dict[str, Any]] = field(default_factory=list)  # workbench.exercises.progress.exercise_rows

    @property
    def gaps(self) -> list[DodItem]:
        """Automatable items not yet met."""
        return [i for i in self.items if i.met is False]


def today_utc() -> date:
    return datetime.now(UTC).date()


def due_count(conn: sqlite3.Connection, today: date | None = None) -> int:
    return cards.due_count(conn, today or today_utc())


def quiz_for_phase(catalog: Catalog, number: int) -> Quiz | None:
    """The phase's quiz: the one its YAML names, else any quiz file declaring that phase."""
    phase = catalog.phases.get(number)
    if phase and phase.quiz and phase.quiz in catalog.quizzes:
        return catalog.quizzes[phase.quiz]
    found = [q for q in catalog.quizzes.values() if q.phase == number]
    return sorted(found, key=lambda q: q.id)[0] if found else None


def phase_runs(conn: sqlite3.Connection, number: int) -> list[dict[str, Any]]:
    """Every run of a phase, oldest first, with its manifest parsed."""
    ensure(conn, run_index.SCHEMA)
    rows = conn.execute("SELECT * FROM runs WHERE phase = ? ORDER BY started_at, id", (number,)).fetchall()
    return [{**dict(r), "manifest": json.loads(r["manifest"])} for r in rows]


def metric_of(manifest: dict[str, Any], metric: str) -> Any:
    """A run's value for `metric`: its results summary, else the actual value of a check on it."""
    summary = manifest.get("results_summary") or {}
    if metric in summary:
        return summary[metric]
    for check in manifest.get("checks") or []:
        if check.get("metric") == metric:
            return check.get("actual")
    return None


def _check_item(phase: Phase, text: str, check: DoneCheck, runs: list[dict[str, Any]]) -> DodItem:
    target = f"{phase.key}/{check.lab}"
    mine = [r for r in runs if r["target"] == target and r["status"] in FINISHED]
    if has_exercise(phase, check.lab):  # an exercise lab counts only through the learner's own code
        demo = [r for r in mine if not is_learner_run(r)]
        mine = [r for r in mine if is_learner_run(r)]
        if not mine and demo:
            return DodItem(text, "check", False, f"{demo[-1]['id']} is a reference run (demonstration); this lab is an "
                           f"exercise: `workbench start {target}`, then `workbench check {target}`")
    meeting = [r for r in mine if compare(metric_of(r["manifest"], check.metric), check.op, check.value, check.tol)]
    clean = [r for r in meeting if not r["quarantined"]]
    want = f"{check.metric} {check.op} {check.value}"
    if clean:
        best = clean[-1]
        return DodItem(
            text, "check", True, f"{best['id']}: {check.metric} = {metric_of(best['manifest'], check.metric)}"
        )
    if meeting:
        return DodItem(
            text, "check", False, f"only quarantined runs meet {want} (dirty git tree); re-run from a clean tree"
        )
    if mine:
        last = mine[-1]
        return DodItem(
            text,
            "check",
            False,
            f"{last['id']}: {check.metric} = {metric_of(last['manifest'], check.metric)}, want {want}",
        )
    return DodItem(text, "check", False, f"no finished run of {target} yet")


def _quiz_item(text: str, quiz: Quiz | None, best: dict[str, Any] | None) -> DodItem:
    if quiz is None:
        return DodItem(text, "quiz", False, "no quiz file for this phase yet")
    if best is None:
        return DodItem(text, "quiz", False, f"no attempt at {quiz.id} (pass mark {quiz.pass_mark:.0%})")
    ok = best["score"] >= quiz.pass_mark - 1e-9
    return DodItem(
        text,
        "quiz",
        ok,
        f"best {best['score']:.0%} ({best['correct']}/{best['total']}), pass mark {quiz.pass_mark:.0%}",
    )


def phase_progress(
    catalog: Catalog, conn: sqlite3.Connection, number: int, tried: dict[str, dict[str, Any]] | None = None
) -> PhaseProgress:
    tried = attempts.attempted_quizzes(conn) if tried is None else tried
    quiz = quiz_for_phase(catalog, number)
    best = tried.get(quiz.id) if quiz else None
    phase = catalog.phases.get(number)
    if phase is None:
        state = State.IN_PROGRESS if best else State.NOT_STARTED
        return PhaseProgress(number, "(no phase file yet)", state, quiz_id=quiz.id if quiz else None,
                             quiz_best=best["score"] if best else None, has_content=False)
    runs = phase_runs(conn, number)
    items = []
    for entry in phase.done_when:
        if entry.check is not None:
            items.append(_check_item(phase, entry.text, entry.check, runs))
        elif entry.quiz:
            items.append(_quiz_item(entry.text, quiz, best))
        else:
            items.append(DodItem(entry.text, "manual", None, "manual: tick it yourself"))
    if phase.quiz and not any(i.kind == "quiz" for i in items):
        items.append(_quiz_item(f"quiz {phase.quiz} passed", quiz, best))
    quiz_passed = any(i.kind == "quiz" and i.met for i in items)
    automatable = [i for i in items if i.met is not None]
    if automatable and all(i.met for i in automatable):
        state = State.DONE
    elif runs or best:
        state = State.IN_PROGRESS
    else:
        state = State.NOT_STARTED
    return PhaseProgress(
        number, phase.title, state, items, len(runs), quiz.id if quiz else None,
        best["score"] if best else None, quiz_passed, exercises=exercise_rows(phase, conn, runs),
    )


def details(catalog: Catalog, conn: sqlite3.Connection) -> dict[int, PhaseProgress]:
    """PhaseProgress for every phase 00..41 (and any extra phase number the content defines)."""
    tried = attempts.attempted_quizzes(conn)
    numbers = sorted(set(range(N_PHASES)) | set(catalog.phases))
    return {n: phase_progress(catalog, conn, n, tried) for n in numbers}


def phase_states(catalog: Catalog, conn: sqlite3.Connection) -> dict[int, State]:
    return {n: p.state for n, p in details(catalog, conn).items()}
