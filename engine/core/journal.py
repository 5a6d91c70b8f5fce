"""Append-only JSON-lines journals: the one writer and reader behind the workbench's learner journal
(workbench/store/journal.py) and the portal's (engine/apps/portal/journal.py).

Why one home: the journal is what makes a lost database recoverable, so its guarantees must not drift
between copies. An event is one line written with a single `write` on an O_APPEND descriptor and
fsync'd before the caller commits its database transaction; a short write raises. The reader yields
every whole line and skips a torn last line (a crash mid-write) instead of failing the replay.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def append_line(path: Path, event: dict[str, Any], *, mode: int = 0o644, private: bool = False,
                default: Callable[[Any], Any] | None = None) -> None:
    """Append `event` as one fsync'd JSON line (keys sorted). `private`: the file is kept 0600 even when
    it was found looser (journals that hold hashes or note bodies). Raises OSError when it cannot be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(event, sort_keys=True, ensure_ascii=False, default=default) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600 if private else mode)
    try:
        if private and stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
        if os.write(fd, line) != len(line):
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, event) of every whole line that holds a JSON object; torn or foreign lines are skipped."""
    path = Path(path)
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
