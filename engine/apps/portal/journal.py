"""The portal's journal: accounts and notes are never only in SQLite.

The project's rule is that the database is an index a learner can lose: every learner event is
also one JSON line in `journal/*.jsonl` beside the database, fsync'd before the transaction
commits, and `workbench reindex` rebuilds the tables from it (workbench/store/journal.py does
this for quiz attempts, reviews and ticks). The portal adds two files in the same folder:

* `portal_accounts.jsonl`: invites (the token's SHA-256 digest, never the token), redemptions and
  password changes *with the Argon2id hash*, role, workspace and login times;
* `portal_notes.jsonl`: note saves (anchor, body, tags) and admin/teacher reads of notes.

Never written: passwords, session ids, cookies, CSRF values, invite tokens, the pepper.

Why the hash is journaled. Without it a rebuilt database would hold every account with no
password, and the only way back in would be a fresh invite per learner (the first admin's from a
shell). The hash is the same secret the database already holds, and it is keyed: Argon2id runs
over HMAC(pepper, password) and the pepper lives only in the environment, so a copied journal
cannot be attacked offline without it. Both files are created 0600 (owner read/write only), and
re-tightened if found looser, since they hold hashes and note bodies.

Replay is idempotent: events are upserts keyed by username / token digest / anchor, applied in
journal order, so `workbench reindex` can run any number of times.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.core.journal import append_line, read_lines

KINDS = ("portal_accounts", "portal_notes")
FORBIDDEN_KEYS = {"password", "sid", "session", "cookie", "csrf", "token", "pepper"}


class PortalJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, kind: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"portal journal kind {kind!r}: use one of {', '.join(KINDS)}")
        return self.folder / f"{kind}.jsonl"

    def append(self, kind: str, event: dict[str, Any]) -> None:
        """One line, one write, fsync'd; raises OSError when the folder cannot be written."""
        bad = FORBIDDEN_KEYS & set(event)
        if bad:
            raise ValueError(f"the portal journal never holds {', '.join(sorted(bad))}")
        append_line(self.path(kind), event, private=True)

    def has_events(self) -> bool:
        return any(self.path(k).exists() and self.path(k).stat().st_size > 0 for k in KINDS)

    def read(self, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, event) of every whole line; a torn last line (a crash mid-write) is skipped."""
        for n, event in read_lines(self.path(kind)):
            if isinstance(event.get("event"), str):
                yield n, event
