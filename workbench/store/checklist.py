"""Manual Definition-of-Done ticks: the checklist items no program can verify.

Automatic items are derived from runs every time they are shown; only the learner's own
ticks ("journal entry written") need storing. One row per ticked item, keyed by phase and
the item's position in `done_when`, with the item text kept so a reworded item is visible.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

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
    ensure(conn, SCHEMA)
    with transaction(conn):
        if on:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            conn.execute("INSERT OR REPLACE INTO checklist_ticks VALUES (?,?,?,?)", (phase, item, text, now))
        else:
            conn.execute("DELETE FROM checklist_ticks WHERE phase = ? AND item = ?", (phase, item))
