"""Exercise state: derived from the learner file and the recorded events; every event is journaled
first, so `workbench reindex` rebuilds hints, solution flags and attempts from journal/exercises.jsonl."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.content import load_catalog
from workbench.exercises.catalog import find
from workbench.exercises.files import starter_for, write_learner
from workbench.exercises.state import (
    file_sha256,
    record_check,
    record_hint,
    record_solution_seen,
    record_start,
    state_of,
)
from workbench.store import connect


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path


def test_states_and_the_journal_rebuild(home: Path) -> None:
    from workbench.store.reindex import rebuild

    ref = find(load_catalog(), "phase-07/lab-03")
    conn = connect()
    assert state_of(conn, ref).state == "not started"
    write_learner(ref.path, starter_for(ref), force=False)
    record_start(conn, ref, solution=False, backup=None)
    assert state_of(conn, ref).state == "started"
    record_solution_seen(conn, ref, before_attempt=True)
    record_hint(conn, ref, 2)
    record_hint(conn, ref, 1)  # hints used never goes down
    record_check(conn, ref, "failed", "run-a", file_sha256(ref.path))
    assert state_of(conn, ref).state == "failing"
    record_check(conn, ref, "passed", "run-b", file_sha256(ref.path))
    before = state_of(conn, ref)
    assert before.state == "passing" and before.hints_used == 2 and before.solution_before_attempt and before.attempts == 2
    conn.close()
    assert len((home / "journal" / "exercises.jsonl").read_text().splitlines()) == 6

    (home / "workbench.db").unlink()
    for extra in home.glob("workbench.db-*"):
        extra.unlink()
    conn = connect()
    rebuild(conn, home)
    assert state_of(conn, ref) == before
    rebuild(conn, home)  # safe to repeat
    assert state_of(conn, ref) == before
    ref.path.write_text(ref.path.read_text() + "# edited\n")
    assert state_of(conn, ref).state == "started"  # edited since it passed
    conn.close()
