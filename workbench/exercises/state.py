"""Where the learner stands on each exercise: store rows (SQLite) plus one journal line per event.

State is derived, not stored as a word: `not started` (no learner file), `started` (a file, no
check yet, or edited since it passed), `failing` (the last check of this file failed), `passing`
(the last check passed and the file still has the sha256 that passed). Hints used, "solution
seen" and "solution seen before any attempt" (the course's honesty flag) are counters/flags.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.exercises.catalog import ExerciseRef
from workbench.store.db import ensure, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS exercise_state (
    target TEXT PRIMARY KEY,
    started_at TEXT,
    mode TEXT,
    hints_used INTEGER NOT NULL DEFAULT 0,
    solution_seen INTEGER NOT NULL DEFAULT 0,
    solution_before_attempt INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status TEXT,
    last_run TEXT,
    last_sha256 TEXT,
    updated_at TEXT
);
CREATE TABLE IF NOT EXISTS exercise_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

STATES = ("not started", "started", "failing", "passing")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class ExerciseState:
    target: str
    state: str
    hints_used: int
    solution_seen: bool
    solution_before_attempt: bool
    attempts: int
    mode: str | None
    last_run: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(conn: sqlite3.Connection, target: str) -> sqlite3.Row | None:
    ensure(conn, SCHEMA)
    return conn.execute("SELECT * FROM exercise_state WHERE target = ?", (target,)).fetchone()


def state_of(conn: sqlite3.Connection, ref: ExerciseRef) -> ExerciseState:
    row = _row(conn, ref.target)
    sha = file_sha256(ref.path)
    get = (lambda k, d=None: row[k] if row is not None and row[k] is not None else d)  # noqa: E731
    if sha is None:
        word = "not started"
    elif get("attempts", 0) == 0 or get("last_sha256") != sha:
        word = "started"
    else:
        word = "passing" if get("last_status") == "passed" else "failing"
    return ExerciseState(ref.target, word, get("hints_used", 0), bool(get("solution_seen", 0)),
                         bool(get("solution_before_attempt", 0)), get("attempts", 0), get("mode"), get("last_run"))


def apply_event(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """Apply one exercise event to the store, in a transaction; also what `workbench reindex` replays."""
    from workbench.store import journal

    ensure(conn, SCHEMA)
    target, kind, at = event["target"], event["kind"], event["at"]
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO exercise_state (target) VALUES (?)", (target,))
        if kind == "start":
            conn.execute(
                "UPDATE exercise_state SET started_at = ?, mode = ? WHERE target = ?", (at, event["mode"], target)
            )
            if event["mode"] == "solution":
                conn.execute("UPDATE exercise_state SET solution_seen = 1, solution_before_attempt = "
                             "MAX(solution_before_attempt, ?) WHERE target = ?", (int(event["before_attempt"]), target))
        elif kind == "hint":
            conn.execute(
                "UPDATE exercise_state SET hints_used = MAX(hints_used, ?) WHERE target = ?",
                (int(event["hint"]), target),
            )
        elif kind == "solution":
            conn.execute("UPDATE exercise_state SET solution_seen = 1, solution_before_attempt = "
                         "MAX(solution_before_attempt, ?) WHERE target = ?", (int(event["before_attempt"]), target))
        elif kind == "check":
            conn.execute(
                "UPDATE exercise_state SET attempts = attempts + 1, last_status = ?, last_run = ?, last_sha256 = ? "
                "WHERE target = ?",
                (event["status"], event["run"], event["sha256"], target),
            )
        else:
            raise ValueError(f"unknown exercise event kind {kind!r}")
        conn.execute("UPDATE exercise_state SET updated_at = ? WHERE target = ?", (at, target))
        conn.execute("INSERT INTO exercise_events (target, kind, at, detail) VALUES (?,?,?,?)",
                     (target, kind, at, json.dumps(event, sort_keys=True)))
        journal.mark_applied(conn, "exercises", event.get("seq"))


def _record(conn: sqlite3.Connection, ref: ExerciseRef, kind: str, **detail: Any) -> None:
    """Journal first (journal/exercises.jsonl, fsync'd), then the store: the database is never the only copy."""
    from workbench.store import journal

    event = {"seq": time.time_ns(), "target": ref.target, "kind": kind, "at": _now(), **detail}
    journal.append(conn, "exercises", event)
    apply_event(conn, event)


def record_start(conn: sqlite3.Connection, ref: ExerciseRef, solution: bool, backup: Path | None) -> None:
    before = state_of(conn, ref).attempts == 0
    _record(conn, ref, "start", mode="solution" if solution else "starter", file=str(ref.path),
            backup=str(backup) if backup else None, before_attempt=before)


def record_hint(conn: sqlite3.Connection, ref: ExerciseRef, number: int) -> None:
    _record(conn, ref, "hint", hint=number)


def record_solution_seen(conn: sqlite3.Connection, ref: ExerciseRef, before_attempt: bool) -> None:
    _record(conn, ref, "solution", before_attempt=before_attempt)


def record_check(conn: sqlite3.Connection, ref: ExerciseRef, status: str, run_id: str | None, sha: str | None) -> None:
    _record(conn, ref, "check", status=status, run=run_id, sha256=sha)
