"""The portal's SQLite schema (stdlib sqlite3), with a query counter so a page's query budget is testable."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE users (username TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('learner','teacher','admin')),
                    pw_hash TEXT, last_activity TEXT);
CREATE TABLE invites (token_id TEXT PRIMARY KEY, username TEXT NOT NULL, role TEXT NOT NULL, used_at TEXT);
CREATE TABLE sessions (sid TEXT PRIMARY KEY, username TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE audit (id INTEGER PRIMARY KEY, event TEXT NOT NULL, username TEXT, at TEXT NOT NULL);
CREATE TABLE progress (username TEXT, phase INTEGER, state TEXT NOT NULL
                       CHECK (state IN ('not_started','in_progress','done')), PRIMARY KEY (username, phase));
CREATE TABLE quiz_results (username TEXT, phase INTEGER, kind TEXT, score REAL, passed INTEGER);
CREATE TABLE cards (username TEXT, item TEXT, due TEXT, ease REAL, interval INTEGER, repetitions INTEGER,
                    PRIMARY KEY (username, item));
"""


class Store:
    def __init__(self, path: str = ":memory:") -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.executescript(SCHEMA)
        self.queries = 0
        self.db.set_trace_callback(self._count)

    def _count(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
            self.queries += 1

    def one(self, sql: str, *args: object) -> tuple | None:
        return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, *args: object) -> list[tuple]:
        return self.db.execute(sql, args).fetchall()

    def run(self, sql: str, *args: object) -> int:
        with self.db:
            return self.db.execute(sql, args).rowcount
