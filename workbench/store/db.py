"""One SQLite file per workspace, in WAL mode, written inside transactions.

Each feature module owns its tables and calls `ensure(conn, SCHEMA)` with
`CREATE TABLE IF NOT EXISTS` statements; there is no migration framework to learn.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench import workspace


def connect(path: Path | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(path or workspace.db_path(), timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error: a writer never leaves half a change."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def ensure(conn: sqlite3.Connection, schema: str) -> None:
    conn.executescript(schema)
