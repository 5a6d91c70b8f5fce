"""The journal: an append-only copy of every learner event the database holds.

Quiz attempts, review grades and manual Definition-of-Done ticks are each appended as one JSON
line to `journal/<kind>.jsonl` next to the database, written with a single `write` and fsync'd
before the database transaction commits, so the SQLite file is never the only copy. Runs need
no journal: their directories are the record. `workbench reindex` replays the journal. The line writer
and reader are engine/core/journal.py's (shared with the portal's journal).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.core.journal import append_line, read_lines

KINDS = ("quiz_attempts", "reviews", "ticks", "exercises")  # exercises: workbench/exercises/state.py


def journal_dir(conn: sqlite3.Connection) -> Path | None:
    """`journal/` beside the connection's database file (None for an in-memory database)."""
    from workbench.store.db import db_file

    path = db_file(conn)
    return path.parent / "journal" if path else None


def append(conn: sqlite3.Connection, kind: str, event: dict[str, Any]) -> None:
    """Append one event; raises OSError when the workspace cannot be written (disk full, read-only)."""
    if kind not in KINDS:
        raise ValueError(f"journal kind {kind!r}: use one of {', '.join(KINDS)}")
    folder = journal_dir(conn)
    if folder is not None:
        append_line(folder / f"{kind}.jsonl", event, default=str)


def read(folder: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, event) of every whole line; a torn last line (a crash mid-write) is skipped."""
    return read_lines(folder / f"{kind}.jsonl")


SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_applied (
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (kind, seq)
);
"""


def mark_applied(conn: sqlite3.Connection, kind: str, seq: int | None) -> None:
    """Record, inside the caller's transaction, that journal event `seq` is in the database."""
    if seq is not None:
        conn.execute("INSERT OR IGNORE INTO journal_applied (kind, seq) VALUES (?, ?)", (kind, int(seq)))


def applied(conn: sqlite3.Connection) -> set[tuple[str, int]]:
    conn.executescript(SCHEMA)
    return {(r[0], r[1]) for r in conn.execute("SELECT kind, seq FROM journal_applied")}
