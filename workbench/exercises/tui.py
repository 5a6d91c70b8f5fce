"""What the TUI needs from the exercises: a learner run request, the hint for `?`, a state word.

The lab screen stays glue: `m` flips `mine`, `s`/`d` ask `learner_request` for the run, `w`
polls `learner_mtime`, the help screen shows `help_text` (which reveals and records the next hint).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workbench.content.loader import Catalog
from workbench.exercises.catalog import ExerciseNotFound, ExerciseRef, find
from workbench.runner.plan import Options, RunRequest


class NotRunnable(Exception):
    """Why the learner's version cannot run yet (not started, a file the judge cannot use)."""


def exercise_of(catalog: Catalog, target: str) -> ExerciseRef | None:
    try:
        return find(catalog, target)
    except ExerciseNotFound:
        return None


def learner_request(catalog: Catalog, target: str, quick: bool, conn: sqlite3.Connection) -> RunRequest:
    from workbench.exercises.judge import exercise_block, preflight
    from workbench.exercises.judge import learner_request as plan_learner

    ref = find(catalog, target)
    if not ref.path.exists():
        raise NotRunnable(f"not started: run `workbench start {ref.target}` (writes {ref.path})")
    pre = preflight(ref, ref.path)
    if pre.unusable:
        raise NotRunnable(pre.unusable)
    block = exercise_block(catalog, ref, ref.path, conn=conn, deps="mine")
    return plan_learner(catalog, ref, Options(quick=quick), block)


def learner_mtime(catalog: Catalog, target: str) -> float | None:
    ref = exercise_of(catalog, target)
    try:
        return ref.path.stat().st_mtime if ref else None
    except FileNotFoundError:
        return None


def help_text(catalog: Catalog, target: str, conn: sqlite3.Connection) -> str:
    """The exercise's paragraph of the `?` help: file, state, hints so far plus the next one (recorded)."""
    from workbench.exercises.state import record_hint, state_of
    from workbench.tui.text import esc

    ref = exercise_of(catalog, target)
    if ref is None:
        return ""
    st = state_of(conn, ref)
    hints = ref.exercise.hints
    shown = min(st.hints_used + 1, len(hints))
    if st.state != "not started":
        record_hint(conn, ref, shown)
    else:
        shown = 0
    lines = [f"[b]Exercise[/b]: your {esc(str(Path(ref.path)))} — {st.state}; m toggles mine/reference, "
             "s runs the selected one, d puts mine and the reference side by side, w re-runs mine on every save."]
    lines += [f"Hint {i}/{len(hints)}: {esc(hints[i - 1])}" for i in range(1, shown + 1)]
    if not shown:
        lines.append(f"Start it first: `workbench start {esc(ref.target)}`; the hints appear here once you have.")
    return "\n".join(lines)


def state_word(catalog: Catalog, target: str, conn: sqlite3.Connection) -> str | None:
    from workbench.exercises.state import state_of

    ref = exercise_of(catalog, target)
    return state_of(conn, ref).state if ref else None


def record_finished(catalog: Catalog, live: object, conn: sqlite3.Connection) -> None:
    """A learner run the TUI started has ended: record it as a check attempt (state, journal)."""
    from workbench.exercises.state import record_check

    request = getattr(live, "request", None)
    block = getattr(request, "exercise", None)
    ref = exercise_of(catalog, block["target"]) if block else None
    if ref is None or block is None:
        return
    report = getattr(live, "report", None)
    manifest = getattr(report, "manifest", None) or {}
    record_check(conn, ref, getattr(report, "status", None) or "crashed", manifest.get("id"), block.get("sha256"))
