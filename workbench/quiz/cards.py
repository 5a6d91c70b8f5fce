"""The review deck in SQLite: one SM-2 card per (quiz, item), and a log of every review.

Seeding rule. A wrong quiz answer seeds a card due tomorrow (ease 2.5, no repetitions). A
wrong answer on an item that already has a card never resets it: the card keeps its ease,
interval and repetitions, and only its due date is pulled forward to tomorrow if it was
later. Retaking a quiz three times in an hour must not triple-penalise a card; the honest
grade is given in `workbench review`, where a lapse (Again) does lower the ease and makes the
card due again the same day (relearning; see engine/apps/srs.py, variant "anki").
A right quiz answer leaves an existing card alone.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime

from workbench.quiz import sm2
from workbench.store import journal
from workbench.store.db import ensure, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS review_cards (
    quiz_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    ease REAL NOT NULL,
    interval INTEGER NOT NULL,
    repetitions INTEGER NOT NULL,
    lapses INTEGER NOT NULL DEFAULT 0,
    due TEXT NOT NULL,
    last_review TEXT,
    created TEXT NOT NULL,
    PRIMARY KEY (quiz_id, item_id)
);
CREATE INDEX IF NOT EXISTS review_cards_by_due ON review_cards(due);
CREATE TABLE IF NOT EXISTS card_reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    quiz_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    reviewed_on TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    grade INTEGER NOT NULL,
    ease REAL NOT NULL,
    interval INTEGER NOT NULL,
    due TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_reviews_by_day ON card_reviews(reviewed_on);
"""

DAILY_CAP = 30


@dataclass(frozen=True)
class Card:
    quiz_id: str
    item_id: str
    state: sm2.CardState


def ensure_tables(conn: sqlite3.Connection) -> None:
    ensure(conn, SCHEMA)


def _card(row: sqlite3.Row) -> Card:
    state = sm2.CardState(
        due=date.fromisoformat(row["due"]),
        ease=row["ease"],
        interval=row["interval"],
        repetitions=row["repetitions"],
        last_review=date.fromisoformat(row["last_review"]) if row["last_review"] else None,
        lapses=row["lapses"],
    )
    return Card(row["quiz_id"], row["item_id"], state)


def seed_in_transaction(conn: sqlite3.Connection, quiz_id: str, item_ids: list[str], today: date) -> None:
    """Seed cards for wrong answers (call inside an open transaction; see the module docstring)."""
    fresh = sm2.new_card(today)
    conn.executemany(
        "INSERT INTO review_cards (quiz_id, item_id, ease, interval, repetitions, lapses, due, last_review, created)"
        " VALUES (?, ?, ?, ?, ?, 0, ?, NULL, ?)"
        " ON CONFLICT (quiz_id, item_id) DO UPDATE SET due = MIN(due, excluded.due)",
        [
            (quiz_id, item, fresh.ease, fresh.interval, fresh.repetitions, fresh.due.isoformat(), today.isoformat())
            for item in item_ids
        ],
    )


def get(conn: sqlite3.Connection, quiz_id: str, item_id: str) -> Card | None:
    ensure_tables(conn)
    row = conn.execute("SELECT * FROM review_cards WHERE quiz_id = ? AND item_id = ?", (quiz_id, item_id)).fetchone()
    return _card(row) if row else None


def all_cards(conn: sqlite3.Connection) -> list[Card]:
    ensure_tables(conn)
    return [_card(r) for r in conn.execute("SELECT * FROM review_cards ORDER BY due, quiz_id, item_id")]


def reviewed_count(conn: sqlite3.Connection, today: date) -> int:
    ensure_tables(conn)
    return conn.execute("SELECT COUNT(*) FROM card_reviews WHERE reviewed_on = ?", (today.isoformat(),)).fetchone()[0]


def due_count(conn: sqlite3.Connection, today: date) -> int:
    """Cards due on or before `today` (not capped)."""
    ensure_tables(conn)
    return conn.execute("SELECT COUNT(*) FROM review_cards WHERE due <= ?", (today.isoformat(),)).fetchone()[0]


def queue(conn: sqlite3.Connection, today: date, cap: int = DAILY_CAP) -> list[Card]:
    """Today's queue: due cards, oldest due date first, at most `cap` distinct cards a day; then the
    cards lapsed today (relearning, due again today), which always come back, whatever the cap."""
    ensure_tables(conn)
    day = today.isoformat()
    seen = conn.execute(
        "SELECT COUNT(DISTINCT quiz_id || '/' || item_id) FROM card_reviews WHERE reviewed_on = ?", (day,)
    ).fetchone()[0]
    fresh = conn.execute(
        "SELECT * FROM review_cards WHERE due <= ? AND (last_review IS NULL OR last_review < ?)"
        " ORDER BY due, quiz_id, item_id LIMIT ?", (day, day, max(0, cap - seen))
    ).fetchall()
    relearn = conn.execute(
        "SELECT * FROM review_cards WHERE due <= ? AND last_review >= ? ORDER BY quiz_id, item_id", (day, day)
    ).fetchall()
    return [_card(r) for r in fresh + relearn]


def next_due(conn: sqlite3.Connection, today: date) -> date | None:
    ensure_tables(conn)
    row = conn.execute("SELECT MIN(due) FROM review_cards WHERE due > ?", (today.isoformat(),)).fetchone()
    return date.fromisoformat(row[0]) if row[0] else None


def record_review(
    conn: sqlite3.Connection, quiz_id: str, item_id: str, grade: int, today: date, now: datetime
) -> sm2.CardState:
    """Journal one review, then apply it (SM-2) and log it, atomically (read and write in one immediate transaction)."""
    ensure_tables(conn)
    if get(conn, quiz_id, item_id) is None:
        raise KeyError(f"no review card for {quiz_id}/{item_id}")
    seq = time.time_ns()
    journal.append(conn, "reviews", {"seq": seq, "quiz_id": quiz_id, "item_id": item_id, "grade": grade,
                                     "today": today.isoformat(), "at": now.isoformat(timespec="seconds")})
    return apply_review(conn, quiz_id, item_id, grade, today, now, seq)


def apply_review(
    conn: sqlite3.Connection, quiz_id: str, item_id: str, grade: int, today: date, now: datetime, seq: int | None = None
) -> sm2.CardState:
    """The database half of `record_review` (also what `workbench reindex` replays)."""
    ensure_tables(conn)
    ensure(conn, journal.SCHEMA)
    with transaction(conn):
        journal.mark_applied(conn, "reviews", seq)
        row = conn.execute(
            "SELECT * FROM review_cards WHERE quiz_id = ? AND item_id = ?", (quiz_id, item_id)
        ).fetchone()
        if row is None:
            raise KeyError(f"no review card for {quiz_id}/{item_id}")
        state = sm2.review(_card(row).state, grade, today)
        conn.execute(
            "UPDATE review_cards SET ease = ?, interval = ?, repetitions = ?, lapses = ?, due = ?, last_review = ?"
            " WHERE quiz_id = ? AND item_id = ?",
            (
                state.ease,
                state.interval,
                state.repetitions,
                state.lapses,
                state.due.isoformat(),
                today.isoformat(),
                quiz_id,
                item_id,
            ),
        )
        conn.execute(
            "INSERT INTO card_reviews (quiz_id, item_id, reviewed_on, reviewed_at, grade, ease, interval, due)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                quiz_id,
                item_id,
                today.isoformat(),
                now.isoformat(timespec="seconds"),
                grade,
                state.ease,
                state.interval,
                state.due.isoformat(),
            ),
        )
    return state
