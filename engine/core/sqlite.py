"""One way to open a SQLite file for concurrent writers, and one write transaction.

Both the workbench's store and the portal's accounts keep state in SQLite files that several
processes (TUI, CLI, portal server threads) write at once. `open_db` sets the pragmas that make
that safe: WAL (readers never block the writer), a busy timeout (a second writer waits rather
than failing at once), foreign keys on, autocommit mode so transactions are explicit.
`transaction` takes the write lock up front (BEGIN IMMEDIATE, so two read-then-write callers can
never deadlock on lock upgrade), commits on success and rolls back on any error, so a writer
never leaves half a change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def open_db(path: Path | str, wait_s: float = 30.0, *, synchronous: str | None = None) -> sqlite3.Connection:
    """A connection to `path` in WAL mode with a `wait_s` busy timeout, foreign keys on, rows as sqlite3.Row."""
    conn = sqlite3.connect(path, timeout=wait_s, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={int(wait_s * 1000)}")
    conn.execute("PRAGMA journal_mode=WAL")
    if synchronous is not None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite synchronous: {synchronous!r} is not OFF, NORMAL, FULL or EXTRA")
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys=ON")
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
