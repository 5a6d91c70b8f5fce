"""The portal's own tables (accounts, invites, sessions, notes, note reads, exam starts) inside the
workspace's SQLite file, next to the workbench's tables and never touching them.

Migrations are numbered and recorded in `portal_schema` (one row: name 'accounts', version N),
so they never collide with the workbench's own PRAGMA user_version bookkeeping. Secrets are
stored only as SHA-256 digests (session ids, invite tokens); a password hash is NULL until its
owner sets it through an invite, and a NULL hash can never log in.

SQLite is never the only copy: every account and note change is first appended to the portal's
journal (engine/apps/portal/journal.py, `journal/portal_*.jsonl` beside the database, 0600) inside the
same write transaction, and `replay()` (called by `workbench reindex`) rebuilds the tables from it.
Sessions and exam starts are not journaled: after a rebuild everyone logs in again.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.apps.portal.journal import PortalJournal
from engine.core.sqlite import open_db, transaction

ROLES = ("learner", "teacher", "admin")
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_-]{1,30}$")

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE portal_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('learner','teacher','admin')),
    pw_hash TEXT,
    workspace TEXT NOT NULL,
    created_at TEXT NOT NULL,
    password_set_at TEXT,
    last_active TEXT
);
CREATE TABLE portal_invites (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('learner','teacher','admin')),
    workspace TEXT NOT NULL,
    created_by INTEGER REFERENCES portal_users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE TABLE portal_sessions (
    sid_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES portal_users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX portal_sessions_by_user ON portal_sessions(user_id);
CREATE TABLE portal_notes (
    user_id INTEGER NOT NULL REFERENCES portal_users(id) ON DELETE CASCADE,
    anchor TEXT NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, anchor)
);
CREATE TABLE portal_note_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES portal_users(id) ON DELETE CASCADE,
    reader TEXT NOT NULL,
    reader_role TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE portal_exams (
    jti TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES portal_users(id) ON DELETE CASCADE,
    quiz_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    submitted_at TEXT
);
"""),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class AccountError(ValueError):
    pass


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="seconds")


def check_username(name: str) -> str:
    if not isinstance(name, str) or not USERNAME_RE.match(name):
        raise AccountError(f"username {name!r}: 2-31 characters, a lower-case letter first, then a-z 0-9 _ -")
    return name


class Accounts:
    """Account storage on one SQLite file; a fresh connection per operation (thread-safe)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.journal = PortalJournal(self.db_path.parent / "journal")
        self.queries = 0
        self._lock = threading.Lock()
        fresh = self.migrate() == 0
        # fresh tables beside a journal: the database was lost or deleted; the journal has the accounts
        self.restored: dict[str, Any] | None = self.replay() if fresh and self.journal.has_events() else None

    def _name(self, c: sqlite3.Connection, user_id: int) -> str | None:
        row = c.execute("SELECT username FROM portal_users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def _count(self, sql: str) -> None:
        if sql.lstrip()[:6].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            with self._lock:
                self.queries += 1

    @contextmanager
    def connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        conn = open_db(self.db_path, 30.0)
        conn.set_trace_callback(self._count)
        try:
            if write:
                with transaction(conn):
                    yield conn
            else:
                yield conn
        finally:
            conn.close()

    def migrate(self) -> int:
        """Bring the portal tables to SCHEMA_VERSION; returns the version found (0: none yet)."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect(write=True) as c:
            c.execute("CREATE TABLE IF NOT EXISTS portal_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            row = c.execute("SELECT version FROM portal_schema WHERE name = 'accounts'").fetchone()
            current = row[0] if row else 0
            if current > SCHEMA_VERSION:
                raise AccountError(f"{self.db_path}: portal schema {current} is newer than this code ({SCHEMA_VERSION})")
            for version, sql in MIGRATIONS:
                if version > current:
                    for statement in filter(str.strip, sql.split(";")):
                        c.execute(statement)
            c.execute("INSERT OR REPLACE INTO portal_schema VALUES ('accounts', ?)", (SCHEMA_VERSION,))
        return current

    # ------------------------------------------------------------------ users
    def user(self, *, username: str | None = None, user_id: int | None = None) -> dict[str, Any] | None:
        with self.connect() as c:
            if username is not None:
                row = c.execute("SELECT * FROM portal_users WHERE username = ?", (username,)).fetchone()
            else:
                row = c.execute("SELECT * FROM portal_users WHERE id = ?", (user_id,)).fetchone()
        return dict(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        with self.connect() as c:
            return [dict(r) for r in c.execute("SELECT id, username, role, workspace, created_at, last_active FROM portal_users"
                                                " ORDER BY last_active IS NULL, last_active DESC, username")]

    def touch(self, user_id: int, now: datetime | None = None) -> None:
        with self.connect(write=True) as c:
            c.execute("UPDATE portal_users SET last_active = ? WHERE id = ?", (now_iso(now), user_id))

    def set_hash(self, user_id: int, pw_hash: str, now: datetime | None = None) -> None:
        with self.connect(write=True) as c:
            self.journal.append("portal_accounts", {"event": "password.set", "username": self._name(c, user_id),
                                                    "pw_hash": pw_hash, "at": now_iso(now)})
            c.execute("UPDATE portal_users SET pw_hash = ?, password_set_at = ? WHERE id = ?", (pw_hash, now_iso(now), user_id))

    def owner_taken(self) -> bool:
        with self.connect() as c:
            users = c.execute("SELECT 1 FROM portal_users WHERE workspace = '.'").fetchone()
            invites = c.execute("SELECT 1 FROM portal_invites WHERE workspace = '.' AND used_at IS NULL").fetchone()
        return bool(users or invites)

    # ------------------------------------------------------------------ invites
    def create_invite(self, token: str, username: str, role: str, workspace: str, created_by: int | None,
                      ttl_s: int, now: datetime | None = None) -> None:
        check_username(username)
        if role not in ROLES:
            raise AccountError(f"role {role!r}: use one of {', '.join(ROLES)}")
        now = now or datetime.now(UTC)
        with self.connect(write=True) as c:
            if c.execute("SELECT 1 FROM portal_users WHERE username = ?", (username,)).fetchone():
                raise AccountError(f"user {username!r} already exists")
            if c.execute("SELECT 1 FROM portal_invites WHERE username = ? AND used_at IS NULL AND expires_at > ?",
                         (username, now_iso(now))).fetchone():
                raise AccountError(f"an open invite for {username!r} exists already")
            row = (digest(token), username, role, workspace, created_by, now_iso(now), now_iso(now + timedelta(seconds=ttl_s)))
            self.journal.append("portal_accounts", {
                "event": "invite.created", "token_hash": row[0], "username": username, "role": role, "workspace": workspace,
                "created_by": self._name(c, created_by) if created_by is not None else None,
                "created_at": row[5], "expires_at": row[6]})
            c.execute("INSERT INTO portal_invites VALUES (?, ?, ?, ?, ?, ?, ?, NULL)", row)

    def invite(self, token: str, now: datetime | None = None) -> tuple[str, dict[str, Any] | None]:
        """('open', row) | ('used', row) | ('expired', row) | ('unknown', None)."""
        with self.connect() as c:
            row = c.execute("SELECT * FROM portal_invites WHERE token_hash = ?", (digest(token),)).fetchone()
        if row is None:
            return "unknown", None
        if row["used_at"]:
            return "used", dict(row)
        if row["expires_at"] <= now_iso(now):
            return "expired", dict(row)
        return "open", dict(row)

    def redeem(self, token: str, pw_hash: str, now: datetime | None = None) -> dict[str, Any] | None:
        """Claim the invite and create its user with the password, in one transaction; None if not claimable."""
        at = now_iso(now)
        with self.connect(write=True) as c:
            claimed = c.execute("UPDATE portal_invites SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
                                " AND expires_at > ?", (at, digest(token), at)).rowcount
            if not claimed:
                return None
            inv = c.execute("SELECT * FROM portal_invites WHERE token_hash = ?", (digest(token),)).fetchone()
            if c.execute("SELECT 1 FROM portal_users WHERE username = ?", (inv["username"],)).fetchone():
                return None
            self.journal.append("portal_accounts", {
                "event": "invite.redeemed", "token_hash": digest(token), "at": at, "username": inv["username"],
                "role": inv["role"], "workspace": inv["workspace"], "pw_hash": pw_hash})
            c.execute("INSERT INTO portal_users (username, role, pw_hash, workspace, created_at, password_set_at, last_active)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)", (inv["username"], inv["role"], pw_hash, inv["workspace"], at, at, at))
            row = c.execute("SELECT * FROM portal_users WHERE username = ?", (inv["username"],)).fetchone()
        return dict(row)

    # ------------------------------------------------------------------ sessions
    def start_session(self, sid: str, csrf: str, user_id: int, ttl_s: int, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        with self.connect(write=True) as c:
            self.journal.append("portal_accounts", {"event": "login", "username": self._name(c, user_id), "at": now_iso(now)})
            c.execute("INSERT INTO portal_sessions VALUES (?, ?, ?, ?, ?, NULL)",
                      (digest(sid), user_id, csrf, now_iso(now), now_iso(now + timedelta(seconds=ttl_s))))
            c.execute("UPDATE portal_users SET last_active = ? WHERE id = ?", (now_iso(now), user_id))

    def session(self, sid: str, now: datetime | None = None) -> dict[str, Any] | None:
        with self.connect() as c:
            row = c.execute("SELECT s.csrf, s.expires_at, u.id, u.username, u.role, u.workspace FROM portal_sessions s"
                            " JOIN portal_users u ON u.id = s.user_id WHERE s.sid_hash = ? AND s.revoked_at IS NULL"
                            " AND s.expires_at > ?", (digest(sid), now_iso(now))).fetchone()
        return dict(row) if row else None

    def end_session(self, sid: str, now: datetime | None = None) -> None:
        with self.connect(write=True) as c:
            c.execute("UPDATE portal_sessions SET revoked_at = ? WHERE sid_hash = ? AND revoked_at IS NULL",
                      (now_iso(now), digest(sid)))

    # ------------------------------------------------------------------ notes
    def save_note(self, user_id: int, anchor: str, body: str, tags: list[str], now: datetime | None = None) -> None:
        with self.connect(write=True) as c:
            self.journal.append("portal_notes", {"event": "note.saved", "username": self._name(c, user_id), "anchor": anchor,
                                                 "body": body, "tags": list(tags), "updated_at": now_iso(now)})
            c.execute("INSERT INTO portal_notes VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, anchor) DO UPDATE SET"
                      " body = excluded.body, tags = excluded.tags, updated_at = excluded.updated_at",
                      (user_id, anchor, body, ",".join(tags), now_iso(now)))

    def notes(self, user_id: int, prefix: str = "") -> list[dict[str, Any]]:
        with self.connect() as c:
            rows = c.execute("SELECT anchor, body, tags, updated_at FROM portal_notes WHERE user_id = ? AND anchor LIKE ?"
                             " ORDER BY anchor", (user_id, prefix + "%")).fetchall()
        return [{**dict(r), "tags": [t for t in r["tags"].split(",") if t]} for r in rows]

    def log_note_read(self, owner_id: int, reader: str, reader_role: str, now: datetime | None = None) -> None:
        with self.connect(write=True) as c:
            self.journal.append("portal_notes", {"event": "note.read", "owner": self._name(c, owner_id), "reader": reader,
                                                 "reader_role": reader_role, "at": now_iso(now)})
            c.execute("INSERT INTO portal_note_reads (owner_id, reader, reader_role, at) VALUES (?, ?, ?, ?)",
                      (owner_id, reader, reader_role, now_iso(now)))

    def note_reads(self, owner_id: int) -> list[dict[str, Any]]:
        with self.connect() as c:
            return [dict(r) for r in c.execute("SELECT reader, reader_role, at FROM portal_note_reads WHERE owner_id = ?"
                                                " ORDER BY id DESC LIMIT 20", (owner_id,))]

    # ------------------------------------------------------------------ exams
    def start_exam(self, jti: str, user_id: int, quiz_id: str, now: datetime | None = None) -> None:
        with self.connect(write=True) as c:
            c.execute("INSERT INTO portal_exams VALUES (?, ?, ?, ?, NULL)", (jti, user_id, quiz_id, now_iso(now)))

    def finish_exam(self, jti: str, user_id: int, now: datetime | None = None) -> bool:
        """Mark the exam submitted; False when it was already submitted or is not this user's."""
        with self.connect(write=True) as c:
            return c.execute("UPDATE portal_exams SET submitted_at = ? WHERE jti = ? AND user_id = ? AND submitted_at IS NULL",
                             (now_iso(now), jti, user_id)).rowcount == 1

    # ------------------------------------------------------------------ rebuild
    def replay(self) -> dict[str, Any]:
        """Rebuild accounts, invites and notes from the journal (idempotent); counts and problems."""
        out: dict[str, Any] = {"accounts": 0, "invites": 0, "notes": 0, "note_reads": 0, "problems": []}
        with self.connect(write=True) as c:
            for kind in ("portal_accounts", "portal_notes"):
                for line, e in self.journal.read(kind):
                    try:
                        self._apply(c, e, out)
                    except (KeyError, TypeError, ValueError, sqlite3.IntegrityError) as exc:
                        out["problems"].append(f"{self.journal.path(kind)}:{line}: not replayed: {type(exc).__name__}: {exc}")
        return out

    @staticmethod
    def _apply(c: sqlite3.Connection, e: dict[str, Any], out: dict[str, Any]) -> None:
        def uid(name: str | None) -> int | None:
            row = c.execute("SELECT id FROM portal_users WHERE username = ?", (name,)).fetchone()
            return row[0] if row else None

        kind = e["event"]
        if kind == "invite.created":
            out["invites"] += c.execute(
                "INSERT OR IGNORE INTO portal_invites VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (e["token_hash"], check_username(e["username"]), e["role"], e["workspace"], uid(e["created_by"]),
                 e["created_at"], e["expires_at"])).rowcount
        elif kind == "invite.redeemed":
            c.execute("UPDATE portal_invites SET used_at = ? WHERE token_hash = ? AND used_at IS NULL", (e["at"], e["token_hash"]))
            out["accounts"] += c.execute(
                "INSERT OR IGNORE INTO portal_users (username, role, pw_hash, workspace, created_at, password_set_at, last_active)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (check_username(e["username"]), e["role"], e["pw_hash"], e["workspace"], e["at"], e["at"], e["at"])).rowcount
        elif kind == "password.set":
            c.execute("UPDATE portal_users SET pw_hash = ?, password_set_at = ? WHERE username = ?", (e["pw_hash"], e["at"], e["username"]))
        elif kind == "login":
            c.execute("UPDATE portal_users SET last_active = MAX(COALESCE(last_active, ''), ?) WHERE username = ?",
                      (e["at"], e["username"]))
        elif kind == "note.saved":
            owner = uid(e["username"])
            if owner is None:
                raise ValueError(f"note of unknown user {e['username']!r}")
            out["notes"] += c.execute(
                "INSERT INTO portal_notes VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, anchor) DO UPDATE SET"
                " body = excluded.body, tags = excluded.tags, updated_at = excluded.updated_at"
                " WHERE excluded.updated_at >= portal_notes.updated_at",
                (owner, e["anchor"], e["body"], ",".join(e["tags"]), e["updated_at"])).rowcount
        elif kind == "note.read":
            owner = uid(e["owner"])
            if owner is None:
                raise ValueError(f"note read of unknown user {e['owner']!r}")
            out["note_reads"] += c.execute(
                "INSERT INTO portal_note_reads (owner_id, reader, reader_role, at) SELECT ?, ?, ?, ? WHERE NOT EXISTS"
                " (SELECT 1 FROM portal_note_reads WHERE owner_id = ? AND reader = ? AND reader_role = ? AND at = ?)",
                (owner, e["reader"], e["reader_role"], e["at"]) * 2).rowcount
        else:
            raise ValueError(f"unknown portal journal event {kind!r}")
