"""engine/core/journal.py: the one JSON-lines writer/reader behind the workbench's and the portal's journals."""

from __future__ import annotations

import os
import stat

from engine.apps.portal.journal import PortalJournal
from engine.core.journal import append_line, read_lines


def test_lines_round_trip_and_a_torn_tail_is_skipped(tmp_path):
    path = tmp_path / "j" / "reviews.jsonl"
    append_line(path, {"b": 1, "a": "ñ"})
    append_line(path, {"when": tmp_path}, default=str)
    with path.open("ab") as fh:
        fh.write(b'{"torn": ')  # a crash mid-write
    assert path.read_text(encoding="utf-8").splitlines()[0] == '{"a": "ñ", "b": 1}'
    assert list(read_lines(path)) == [(1, {"a": "ñ", "b": 1}), (2, {"when": str(tmp_path)})]
    assert list(read_lines(tmp_path / "missing.jsonl")) == []


def test_private_journal_is_tightened_to_0600(tmp_path):
    path = tmp_path / "portal_notes.jsonl"
    path.write_text("")
    os.chmod(path, 0o644)
    PortalJournal(tmp_path).append("portal_notes", {"event": "save", "anchor": "p1"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.open("a").write('["not an event"]\n{"no_event_key": 1}\n')
    assert [e["event"] for _, e in PortalJournal(tmp_path).read("portal_notes")] == ["save"]
