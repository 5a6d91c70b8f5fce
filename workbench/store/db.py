"""One SQLite file per workspace, in WAL mode, written inside transactions.

The database is an index, never the only copy: runs live in their directories and quiz
attempts, review grades and manual ticks are also appended to `journal/*.jsonl`
(workbench/store/journal.py), so `workbench reindex` can rebuild it from scratch.

Each feature module owns its tables and calls `ensure(conn, SCHEMA)` with `CREATE TABLE IF NOT
EXISTS` statements. The schema version is `PRAGMA user_version`; `MIGRATIONS[n]` takes a
database from version n-1 to n. On the first open in a process the file is checked:
* a file that is not a database, fails `PRAGMA quick_check`, or carries a version newer than
  this code knows is moved aside (`workbench.db.unreadable-<UTC>`, never overwritten) and a
  fresh one is rebuilt from the run directories and the journal, with a message on stderr;
* a fresh (empty) file in a workspace that has runs or a journal is rebuilt the same way, so
  a deleted or truncated database does not silently start empty.
Any SQLite failure that remains (locked beyond the bounded wait, disk full, read-only) is
raised as StoreError: one line naming the file, for exit code 4.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from engine.core.sqlite import open_db
from engine.core.sqlite import transaction as transaction  # re-exported: the store's callers import it here
from workbench import workspace

SCHEMA_VERSION = 2
DEFAULT_WAIT_S = 10.0  # how long a writer waits for a lock before giving up (WORKBENCH_DB_WAIT_S)


class StoreError(RuntimeError):
    """The index database cannot be used: one line naming the file and the cause (exit code 4)."""


def _baseline(conn: sqlite3.Connection) -> None:
    """Version 1: every table as its module declares it today."""
    from workbench.quiz import attempts, cards
    from workbench.store import checklist, journal, runs

    for schema in (runs.SCHEMA, checklist.SCHEMA, attempts.SCHEMA, cards.SCHEMA, journal.SCHEMA):
        conn.executescript(schema)


def _run_titles(conn: sqlite3.Connection) -> None:
    from workbench.store.runs import add_title_and_verdict

    add_title_and_verdict(conn)


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _baseline, 2: _run_titles}
_checked: set[str] = set()


def wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("WORKBENCH_DB_WAIT_S", DEFAULT_WAIT_S)))
    except ValueError:
        return DEFAULT_WAIT_S


def _open(path: Path) -> sqlite3.Connection:
    return open_db(path, wait_seconds(), synchronous="NORMAL")


def describe(exc: BaseException, path: Path) -> str:
    """One line for a SQLite or OS failure on `path`."""
    text = str(exc) or type(exc).__name__
    if "locked" in text or "busy" in text:
        text = f"{text} (waited {wait_seconds():g} s for another writer; set WORKBENCH_DB_WAIT_S to wait longer)"
    return f"{path}: {text}"


def connect(path: Path | None = None) -> sqlite3.Connection:
    """Open the workspace database (checked, migrated, rebuilt if needed) or raise StoreError."""
    path = Path(path or workspace.db_path())
    try:
        key = str(path.resolve())
        if key in _checked and path.exists():  # deleted while this process runs: check (and rebuild) again
            return _open(path)
        try:
            conn = _open(path)
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise
            return _replace(None, path, f"is not a readable SQLite database ({exc})", key)
        conn = _check_and_migrate(conn, path, key)
        return conn
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(describe(exc, path)) from exc


def _is_busy(exc: BaseException) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _problem(conn: sqlite3.Connection) -> str | None:
    """Why this database must not be used as is, or None."""
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if _is_busy(exc):
            raise
        return f"is not a readable SQLite database ({exc})"
    if verdict != "ok":
        return f"fails its integrity check ({verdict})"
    if version > SCHEMA_VERSION:
        return f"has schema version {version}, newer than this workbench knows ({SCHEMA_VERSION})"
    return None


def _has_history(path: Path) -> bool:
    """A journal folder exists only once this workspace has had a database: an empty database
    next to one was lost (deleted, truncated), not new."""
    return (path.parent / "journal").is_dir()


def _replace(conn: sqlite3.Connection | None, path: Path, problem: str, key: str) -> sqlite3.Connection:
    if conn is not None:
        conn.close()
    aside = move_aside(path)
    print(f"warning: {path} {problem}; moved it to {aside.name} and rebuilt the index from runs/ and journal/",
          file=sys.stderr)
    conn = _open(path)
    migrate(conn)
    _checked.add(key)
    _rebuild(conn, path)
    return conn


def _check_and_migrate(conn: sqlite3.Connection, path: Path, key: str) -> sqlite3.Connection:
    problem = _problem(conn)
    if problem:
        return _replace(conn, path, problem, key)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    lost = version == 0 and tables == 0 and _has_history(path)
    migrate(conn)
    _checked.add(key)
    with contextlib.suppress(OSError):  # a read-only workspace: reading still works; the first write says why not
        (path.parent / "journal").mkdir(exist_ok=True)
    if lost:
        print(f"note: {path} was empty; rebuilt the index from runs/ and journal/", file=sys.stderr)
        _rebuild(conn, path)
    return conn


def _rebuild(conn: sqlite3.Connection, path: Path) -> None:
    from workbench.store.reindex import rebuild

    rebuild(conn, path.parent)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration above the file's `user_version`, then record the new version.
    Migrations must be idempotent (CREATE ... IF NOT EXISTS, guarded ALTERs): `executescript`
    commits as it goes, so a migration cut short is simply run again on the next open."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for target in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[target](conn)
        conn.execute(f"PRAGMA user_version = {target}")
    return max(version, SCHEMA_VERSION)


def move_aside(path: Path) -> Path:
    """Rename the database (and its -wal/-shm files) out of the way; never overwrite anything."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.unreadable-{stamp}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.unreadable-{stamp}-{n}")
        n += 1
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside


def ensure(conn: sqlite3.Connection, schema: str) -> None:
    conn.executescript(schema)


def db_file(conn: sqlite3.Connection) -> Path | None:
    """The file behind a connection (None for an in-memory database)."""
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(row[2]) if row and row[2] else None
