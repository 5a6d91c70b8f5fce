"""`workbench reindex`: rebuild the index database from the run directories and the journal.

Runs are read from `runs/*/manifest.json` (a run whose index write failed is added; one already
indexed is refreshed from its manifest). Journal events (quiz attempts, review grades, manual
ticks) are replayed in the order they happened, skipping those already in the database
(`journal_applied`), so reindex is safe to run any number of times. The portal's accounts,
invites and notes (journal/portal_*.jsonl) are replayed as upserts (engine/apps/portal/accounts.py).
A learner's own workspace (learners/<name>/) is rebuilt with `WORKBENCH_HOME=learners/<name> workbench reindex`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from workbench.store import journal


@dataclass
class Reindexed:
    runs: int = 0
    attempts: int = 0
    reviews: int = 0
    ticks: int = 0
    exercise_events: int = 0
    portal: dict = field(default_factory=dict)  # the portal's accounts and notes (engine/apps/portal/journal.py)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"indexed {self.runs} run(s); replayed {self.attempts} quiz attempt(s), {self.reviews} review(s), "
                f"{self.ticks} tick(s), {self.exercise_events} exercise event(s) from the journal")
        if self.portal:
            p = self.portal
            text += f"; portal: {p['accounts']} account(s), {p['invites']} invite(s), {p['notes']} note save(s)"
        return text


def index_runs(conn: sqlite3.Connection, home: Path, out: Reindexed) -> None:
    from workbench.store.runs import record_run

    for path in sorted((home / "runs").glob("*/manifest.json")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            record_run(conn, manifest, str(path.parent))
            out.runs += 1
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            out.problems.append(f"{path}: not indexed: {type(exc).__name__}: {exc}")


def replay_journal(conn: sqlite3.Connection, home: Path, out: Reindexed) -> None:
    from workbench.quiz import attempts, cards
    from workbench.store.checklist import apply_tick

    folder = home / "journal"
    attempts.ensure_tables(conn)
    done = journal.applied(conn)
    events = []
    for kind in journal.KINDS:
        for line, event in journal.read(folder, kind):
            seq = event.get("seq")
            if not isinstance(seq, int):
                out.problems.append(f"{folder / kind}.jsonl:{line}: no seq; skipped")
                continue
            if (kind, seq) not in done:
                events.append((seq, kind, line, event))
    for seq, kind, line, event in sorted(events, key=lambda e: (e[0], journal.KINDS.index(e[1]), e[2])):
        try:
            if kind == "quiz_attempts":
                attempts.replay(conn, event)
                out.attempts += 1
            elif kind == "reviews":
                cards.apply_review(conn, event["quiz_id"], event["item_id"], int(event["grade"]),
                                   date.fromisoformat(event["today"]), datetime.fromisoformat(event["at"]), seq)
                out.reviews += 1
            elif kind == "exercises":
                from workbench.exercises.state import apply_event

                apply_event(conn, event)
                out.exercise_events += 1
            else:
                apply_tick(
                    conn,
                    int(event["phase"]),
                    int(event["item"]),
                    str(event["text"]),
                    bool(event["on"]),
                    str(event["at"]),
                    seq,
                )
                out.ticks += 1
        except (KeyError, ValueError, TypeError) as exc:
            out.problems.append(f"{folder / kind}.jsonl:{line}: not replayed: {type(exc).__name__}: {exc}")


def rebuild(conn: sqlite3.Connection, home: Path) -> Reindexed:
    """Add every run directory and every journal event not yet in `conn`'s database."""
    out = Reindexed()
    index_runs(conn, home, out)
    replay_journal(conn, home, out)
    replay_portal(conn, home, out)
    return out


def replay_portal(conn: sqlite3.Connection, home: Path, out: Reindexed) -> None:
    """The portal's accounts and notes, when this workspace has a portal journal."""
    from engine.apps.portal.accounts import Accounts
    from workbench.store.db import db_file

    folder, path = home / "journal", db_file(conn)
    if path is None or not any((folder / f"{k}.jsonl").exists() for k in ("portal_accounts", "portal_notes")):
        return
    accounts = Accounts(path)  # on fresh tables this already replayed the journal
    result = accounts.restored or accounts.replay()
    out.problems += result.pop("problems")
    out.portal = result
