"""Backups of SQLite databases: the online backup API, then PRAGMA integrity_check, then retention.

`snapshot(dbs, dest, keep)` copies every database into one timestamped folder while the portal
keeps serving (sqlite3's backup() is consistent under concurrent writers), checks each copy with
integrity_check, and only then renames the folder into place and touches `.last_ok`; the oldest
folders beyond `keep` are removed. `restore(folder, targets)` checks the snapshot first and then
copies each file back over its live database with the same online API.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "snapshot-"


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Snapshot:
    path: Path
    files: dict[str, Path]  # logical name -> copy


def integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _copy(src: Path, dst: Path) -> None:
    source, target = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def snapshot(dbs: dict[str, Path], dest: Path, keep: int = 14, now: datetime | None = None) -> Snapshot:
    """Copy each database (name -> live path) into dest/snapshot-<UTC>/<name>.db, verified."""
    if keep < 1:
        raise BackupError("keep must be at least 1")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    final = dest / f"{PREFIX}{stamp}"
    tmp = dest / f".tmp-{stamp}"
    tmp.mkdir(parents=True, exist_ok=False)
    files = {}
    try:
        for name, live in dbs.items():
            copy = tmp / f"{name}.db"
            _copy(live, copy)
            verdict = integrity(copy)
            if verdict != "ok":
                raise BackupError(f"{live}: integrity_check of the copy says {verdict!r}")
            files[name] = final / copy.name
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (dest / ".last_ok").write_text(stamp + "\n")
    for old in sorted(p for p in dest.glob(f"{PREFIX}*") if p.is_dir())[:-keep]:
        shutil.rmtree(old)
    return Snapshot(final, files)


def snapshots(dest: Path) -> list[Path]:
    return sorted(p for p in dest.glob(f"{PREFIX}*") if p.is_dir())


def restore(folder: Path, targets: dict[str, Path]) -> list[str]:
    """Copy folder/<name>.db back over targets[name]; every copy is checked before anything is written."""
    missing = [n for n in targets if not (folder / f"{n}.db").is_file()]
    if missing:
        raise BackupError(f"{folder}: no copy of {', '.join(missing)}")
    for name in targets:
        verdict = integrity(folder / f"{name}.db")
        if verdict != "ok":
            raise BackupError(f"{folder / f'{name}.db'}: integrity_check says {verdict!r}; nothing restored")
    for name, live in targets.items():
        live.parent.mkdir(parents=True, exist_ok=True)
        _copy(folder / f"{name}.db", live)
    return sorted(targets)
