"""The journal: an append-only copy of every learner event the database holds.

Quiz attempts, review grades and manual Definition-of-Done ticks are each appended as one JSON
line to `journal/<kind>.jsonl` next to the database, written with a single `write` and fsync'd
before the database transaction commits, so the SQLite file is never the only copy. Runs need
no journal: their directories are the record. `workbench reindex` replays the journal.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(event, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    fd = os.open(folder / f"{kind}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {folder / f'{kind}.jsonl'}")
        os.fsync(fd)
    finally:
        os.close(fd)


def read(folder: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, event) of every whole line; a torn last line (a crash mid-write) is skipped."""
    path = folder / f"{kind}.jsonl"
    if not path.exists():
        return
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                event = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(event, dict):
                yield n, event


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
