"""Where the learner stands on each exercise: store rows (SQLite) plus one journal line per event.

State is derived, not stored as a word: `not started` (no learner file), `started` (a file, no
check yet, or edited since it passed), `failing` (the last check of this file failed), `passing`
(the last check passed and the file still has the sha256 that passed). Hints used, "solution
seen" and "solution seen before any attempt" (the course's honesty flag) are counters/flags.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench import workspace
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


def journal(event: dict[str, Any]) -> None:
    """Append one JSON line to <workspace>/journal/exercises.jsonl (created on first use)."""
    path = workspace.home() / "journal" / "exercises.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": _now(), **event}, sort_keys=True, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _event(conn: sqlite3.Connection, target: str, kind: str, detail: dict[str, Any], sets: str, args: tuple) -> None:
    ensure(conn, SCHEMA)
    now = _now()
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO exercise_state (target) VALUES (?)", (target,))
        conn.execute(f"UPDATE exercise_state SET {sets}, updated_at = ? WHERE target = ?", (*args, now, target))
        conn.execute("INSERT INTO exercise_events (target, kind, at, detail) VALUES (?,?,?,?)",
                     (target, kind, now, json.dumps(detail, sort_keys=True)))
    journal({"kind": f"exercise.{kind}", "target": target, **detail})


def record_start(conn: sqlite3.Connection, ref: ExerciseRef, solution: bool, backup: Path | None) -> None:
    detail = {"mode": "solution" if solution else "starter", "file": str(ref.path), "backup": str(backup) if backup else None}
    if solution:
        before = 0 if (_row(conn, ref.target) or {"attempts": 0})["attempts"] else 1
        _event(conn, ref.target, "start", detail,
               "started_at = ?, mode = ?, solution_seen = 1, solution_before_attempt = MAX(solution_before_attempt, ?)",
               (_now(), "solution", before))
    else:
        _event(conn, ref.target, "start", detail, "started_at = ?, mode = ?", (_now(), "starter"))


def record_hint(conn: sqlite3.Connection, ref: ExerciseRef, number: int) -> None:
    _event(conn, ref.target, "hint", {"hint": number}, "hints_used = MAX(hints_used, ?)", (number,))


def record_solution_seen(conn: sqlite3.Connection, ref: ExerciseRef, before_attempt: bool) -> None:
    _event(conn, ref.target, "solution", {"before_attempt": before_attempt},
           "solution_seen = 1, solution_before_attempt = MAX(solution_before_attempt, ?)", (int(before_attempt),))


def record_check(conn: sqlite3.Connection, ref: ExerciseRef, status: str, run_id: str | None, sha: str | None) -> None:
    _event(conn, ref.target, "check", {"status": status, "run": run_id, "sha256": sha},
           "attempts = attempts + 1, last_status = ?, last_run = ?, last_sha256 = ?", (status, run_id, sha))
