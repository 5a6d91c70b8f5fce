"""Manual Definition-of-Done ticks: the checklist items no program can verify.

Automatic items are derived from runs every time they are shown; only the learner's own
ticks ("journal entry written") need storing. One row per ticked item, keyed by phase and
the item's position in `done_when`, with the item text kept so a reworded item is visible.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

from workbench.store import journal
from workbench.store.db import ensure, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS checklist_ticks (
    phase INTEGER NOT NULL,
    item INTEGER NOT NULL,
    text TEXT NOT NULL,
    ticked_at TEXT NOT NULL,
    PRIMARY KEY (phase, item)
);
"""


def ticked(conn: sqlite3.Connection, phase: int) -> set[int]:
    """Indices into the phase's `done_when` list that the learner has ticked."""
    ensure(conn, SCHEMA)
    return {row["item"] for row in conn.execute("SELECT item FROM checklist_ticks WHERE phase = ?", (phase,))}


def set_tick(conn: sqlite3.Connection, phase: int, item: int, text: str, on: bool) -> None:
    """Journal the tick (or untick), then store it."""
    now, seq = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), time.time_ns()
    journal.append(conn, "ticks", {"seq": seq, "phase": phase, "item": item, "text": text, "on": on, "at": now})
    apply_tick(conn, phase, item, text, on, now, seq)


def apply_tick(
    conn: sqlite3.Connection, phase: int, item: int, text: str, on: bool, now: str, seq: int | None = None
) -> None:
    """The database half of `set_tick` (also what `workbench reindex` replays)."""
    ensure(conn, SCHEMA)
    ensure(conn, journal.SCHEMA)
    with transaction(conn):
        journal.mark_applied(conn, "ticks", seq)
        if on:
            conn.execute("INSERT OR REPLACE INTO checklist_ticks VALUES (?,?,?,?)", (phase, item, text, now))
        else:
            conn.execute("DELETE FROM checklist_ticks WHERE phase = ? AND item = ?", (phase, item))
