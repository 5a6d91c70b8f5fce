"""The run index: one row per run, pointing at its directory and manifest."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from workbench.store.db import ensure, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    phase INTEGER,
    lab TEXT,
    status TEXT NOT NULL,
    quarantined INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    wall_seconds REAL,
    config_hash TEXT,
    checks_passed INTEGER NOT NULL DEFAULT 0,
    checks_failed INTEGER NOT NULL DEFAULT 0,
    run_dir TEXT NOT NULL,
    manifest TEXT NOT NULL,
    title TEXT,
    verdict TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_phase ON runs(phase, started_at);
"""


COLUMNS = ("id", "target", "kind", "phase", "lab", "status", "quarantined", "started_at", "finished_at", "wall_seconds",
           "config_hash", "checks_passed", "checks_failed", "run_dir", "manifest", "title", "verdict")


def add_title_and_verdict(conn: sqlite3.Connection) -> None:
    """Migration 2: runs.title (a break's title) and runs.verdict (detected | missed for a break run)."""
    ensure(conn, SCHEMA)
    have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for column in ("title", "verdict"):
        if column not in have:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT")
    for row in conn.execute("SELECT id, manifest FROM runs WHERE title IS NULL").fetchall():
        m = json.loads(row["manifest"])
        brk = m.get("break") or {}
        conn.execute(
            "UPDATE runs SET title = ?, verdict = ? WHERE id = ?",
            (m["target"].get("title"), brk.get("verdict"), row["id"]),
        )


def record_run(conn: sqlite3.Connection, manifest: dict[str, Any], run_dir: str) -> None:
    ensure(conn, SCHEMA)
    checks = manifest.get("checks", [])
    target = manifest["target"]
    brk = manifest.get("break") or {}
    with transaction(conn):
        conn.execute(
            f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            (
                manifest["id"],
                target["name"],
                target["kind"],
                target.get("phase"),
                target.get("lab"),
                manifest["status"],
                int(manifest.get("quarantined", False)),
                manifest["started_at"],
                manifest.get("finished_at"),
                manifest.get("wall_seconds"),
                manifest.get("config_hash"),
                sum(1 for c in checks if c["passed"]),
                sum(1 for c in checks if not c["passed"]),
                run_dir,
                json.dumps(manifest, sort_keys=True),
                target.get("title"),
                brk.get("verdict"),
            ),
        )


def list_runs(
    conn: sqlite3.Connection, phase: int | None = None, target: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    ensure(conn, SCHEMA)
    sql = (
        "SELECT id, target, kind, phase, lab, status, title, verdict, quarantined, started_at, wall_seconds,"
        " checks_passed, checks_failed, run_dir FROM runs"
    )
    where: list[str] = []
    args: list[str | int] = []
    if phase is not None:
        where.append("phase = ?")
        args.append(phase)
    if target:
        where.append("target LIKE ?")
        args.append(f"{target}%")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
    args.append(limit)
    return [dict(row) for row in conn.execute(sql, args)]


def get_manifest(conn: sqlite3.Connection, run_id: str) -> tuple[dict[str, Any], str] | None:
    """(manifest, run_dir) for a full id or a unique prefix/suffix."""
    ensure(conn, SCHEMA)
    rows = conn.execute(
        "SELECT manifest, run_dir FROM runs WHERE id = ? OR id LIKE ? OR id LIKE ? ORDER BY id",
        (run_id, f"{run_id}%", f"%{run_id}"),
    ).fetchall()
    exact = [r for r in rows if json.loads(r["manifest"])["id"] == run_id]
    rows = exact or rows
    if len(rows) != 1:
        return None
    return json.loads(rows[0]["manifest"]), rows[0]["run_dir"]


def latest_by_lab(conn: sqlite3.Connection, phase: int) -> dict[str, dict[str, Any]]:
    """The newest run per lab/break target of a phase: {target: row}."""
    ensure(conn, SCHEMA)
    rows = conn.execute(
        "SELECT * FROM runs WHERE phase = ? ORDER BY started_at ASC, id ASC", (phase,)
    ).fetchall()
    return {row["target"]: dict(row) for row in rows}


def index_disagreements(conn: sqlite3.Connection, on_disk: dict[str, Any]) -> list[str] | None:
    """How the index's copy of a run's manifest differs from the manifest on disk (artifact
    hashes, status, config hash); None when the run is not in the index."""
    ensure(conn, SCHEMA)
    row = conn.execute("SELECT manifest FROM runs WHERE id = ?", (on_disk.get("id"),)).fetchone()
    if row is None:
        return None
    indexed = json.loads(row["manifest"])
    problems = []
    for key in ("status", "config_hash"):
        if indexed.get(key) != on_disk.get(key):
            problems.append(
                f"index and manifest disagree on {key}: index {indexed.get(key)!r}, manifest {on_disk.get(key)!r}"
            )
    a = {x["path"]: x["sha256"] for x in indexed.get("artifacts", [])}
    b = {x["path"]: x["sha256"] for x in on_disk.get("artifacts", [])}
    for path in sorted(set(a) | set(b)):
        if a.get(path) != b.get(path):
            problems.append(
                f"index and manifest disagree on {path}:"
                f" index {str(a.get(path))[:12]}, manifest {str(b.get(path))[:12]}"
            )
    return problems
