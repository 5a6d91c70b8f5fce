"""Quiz attempts in SQLite: one row per attempt, one row per answered item.

Recording an attempt and seeding review cards for its wrong answers happen in one
transaction, so a crash never leaves an attempt without its cards or the reverse. The
attempt is first appended to the journal (workbench/store/journal.py), from which
`workbench reindex` replays it (`replay`) if the database is lost.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import date, datetime
from typing import Any

from workbench.quiz import cards
from workbench.quiz.scoring import QuizResult
from workbench.store import journal
from workbench.store.db import ensure, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS quiz_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    quiz_id TEXT NOT NULL,
    phase INTEGER NOT NULL,
    mode TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    seconds REAL NOT NULL,
    correct INTEGER NOT NULL,
    total INTEGER NOT NULL,
    score REAL NOT NULL,
    pass_mark REAL NOT NULL,
    passed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS quiz_attempts_by_quiz ON quiz_attempts(quiz_id, finished_at);
CREATE TABLE IF NOT EXISTS quiz_answers (
    attempt_id INTEGER NOT NULL REFERENCES quiz_attempts(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    response TEXT NOT NULL,
    given TEXT NOT NULL,
    correct INTEGER NOT NULL,
    PRIMARY KEY (attempt_id, item_id)
);
"""


def ensure_tables(conn: sqlite3.Connection) -> None:
    ensure(conn, SCHEMA)
    ensure(conn, journal.SCHEMA)
    cards.ensure_tables(conn)


def record(
    conn: sqlite3.Connection,
    result: QuizResult,
    *,
    started_at: datetime,
    finished_at: datetime,
    mode: str,
    today: date,
) -> int:
    """Journal the attempt, then store it and its answers and seed cards for the wrong items; returns the attempt id."""
    ensure_tables(conn)
    event = {
        "seq": time.time_ns(),
        "quiz_id": result.quiz_id,
        "phase": result.phase,
        "mode": mode,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "seconds": round((finished_at - started_at).total_seconds(), 3),
        "correct": result.n_correct,
        "total": len(result.items),
        "score": result.score,
        "pass_mark": result.pass_mark,
        "passed": result.passed,
        "today": today.isoformat(),
        "answers": [
            {
                "item_id": r.item_id,
                "kind": r.kind,
                "response": json.dumps(r.response, default=str),
                "given": r.given,
                "correct": r.correct,
            }
            for r in result.items
        ],
        "wrong": result.wrong,
    }
    journal.append(conn, "quiz_attempts", event)
    return replay(conn, event)


def replay(conn: sqlite3.Connection, event: dict[str, Any]) -> int:
    """Insert one journaled attempt (its answers and card seeds) in one transaction; returns its id."""
    ensure_tables(conn)
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO quiz_attempts (quiz_id, phase, mode, started_at, finished_at, seconds, correct, total,"
            " score, pass_mark, passed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event["quiz_id"],
                event["phase"],
                event["mode"],
                event["started_at"],
                event["finished_at"],
                event["seconds"],
                event["correct"],
                event["total"],
                event["score"],
                event["pass_mark"],
                int(event["passed"]),
            ),
        )
        attempt_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO quiz_answers (attempt_id, item_id, kind, response, given, correct) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (attempt_id, a["item_id"], a["kind"], a["response"], a["given"], int(a["correct"]))
                for a in event["answers"]
            ],
        )
        cards.seed_in_transaction(conn, event["quiz_id"], list(event["wrong"]), date.fromisoformat(event["today"]))
        journal.mark_applied(conn, "quiz_attempts", event.get("seq"))
    return attempt_id


def list_attempts(conn: sqlite3.Connection, quiz_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    ensure_tables(conn)
    sql, args = "SELECT * FROM quiz_attempts", list[str | int]()
    if quiz_id:
        sql += " WHERE quiz_id = ?"
        args.append(quiz_id)
    sql += " ORDER BY finished_at DESC, id DESC LIMIT ?"
    args.append(limit)
    return [dict(r) for r in conn.execute(sql, args)]


def best_attempt(conn: sqlite3.Connection, quiz_id: str) -> dict[str, Any] | None:
    """The highest-scoring attempt (the latest among equals)."""
    ensure_tables(conn)
    row = conn.execute(
        "SELECT * FROM quiz_attempts WHERE quiz_id = ? ORDER BY score DESC, finished_at DESC, id DESC LIMIT 1",
        (quiz_id,),
    ).fetchone()
    return dict(row) if row else None


def answers_of(conn: sqlite3.Connection, attempt_id: int) -> list[dict[str, Any]]:
    ensure_tables(conn)
    rows = conn.execute("SELECT * FROM quiz_answers WHERE attempt_id = ? ORDER BY item_id", (attempt_id,))
    return [{**dict(r), "response": json.loads(r["response"])} for r in rows]


def attempted_quizzes(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """{quiz_id: best attempt} for every quiz tried at least once."""
    ensure_tables(conn)
    rows = conn.execute(
        "SELECT * FROM quiz_attempts ORDER BY quiz_id, score ASC, finished_at ASC, id ASC"
    ).fetchall()
    return {r["quiz_id"]: dict(r) for r in rows}  # the last row per quiz wins: the best, latest
