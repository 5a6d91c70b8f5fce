"""SQLite is never the only copy of a portal learner's history: accounts, invites, notes and note
reads are journaled (journal/portal_*.jsonl, 0600, hashes but never passwords, sessions or
tokens), and deleting workbench.db then `workbench reindex` restores accounts, notes and the deck."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from fastapi.testclient import TestClient

from engine.apps.portal.accounts import Accounts
from engine.apps.portal.settings import PortalSettings
from workbench.portal.wiring import build

PW = "correct horse battery staple"
SETTINGS = PortalSettings(environment="test", argon2="fast")


def _client(app) -> TestClient:  # noqa: ANN001
    c = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    c.get("/login")
    return c


def _form(c: TestClient, path: str, data: dict[str, str]) -> int:
    return c.post(path, data={"csrf_token": c.cookies["csrf"], **data}).status_code


def _use_the_portal(home: Path) -> dict[str, str]:
    app = build(home, SETTINGS)
    portal = app.state.portal
    ana_invite = portal.invite("ana", "learner", ".", None)  # the workspace owner: her deck is workbench.db's
    boss_invite = portal.invite("boss", "admin", "learners/boss", None)
    open_invite = portal.invite("late", "learner", "learners/late", None)  # never redeemed: must stay redeemable
    with _client(app) as ana, _client(app) as boss:
        assert _form(ana, f"/invite/{ana_invite}", {"password": PW, "confirm": PW}) == 303
        assert _form(boss, f"/invite/{boss_invite}", {"password": PW, "confirm": PW}) == 303
        chapter = portal.learning.phase(7)["chapters"][0]["id"]
        assert _form(ana, "/phase/7/notes", {"chapter": chapter, "body": "my *note* on autograd", "tags": "grad t2"}) == 303
        quiz = portal.learning.quiz(7)
        assert _form(ana, "/phase/7/quiz", {f"a_{i['id']}": "surely wrong" for i in quiz["items"]}) == 200
        assert boss.get("/admin/students/ana").status_code == 200  # an admin read of ana's notes, logged
        cookies = [ana.cookies["session"], boss.cookies["session"]]
    return {"chapter": chapter, "open_invite": open_invite, "cookies": " ".join(cookies),
            "ana_invite": ana_invite}


def _snapshot(home: Path) -> dict:
    acc = Accounts(home / "workbench.db")
    users = {u["username"]: u for u in (acc.user(username=n) for n in ("ana", "boss"))}
    ana = users["ana"]
    from workbench.quiz import cards
    from workbench.store.db import connect

    conn = connect(home / "workbench.db")
    deck = sorted((c.quiz_id, c.item_id, c.state.due.isoformat()) for c in cards.all_cards(conn))
    conn.close()
    return {"hashes": {n: u["pw_hash"] for n, u in users.items()}, "roles": {n: u["role"] for n, u in users.items()},
            "notes": acc.notes(ana["id"]), "reads": [(r["reader"], r["reader_role"]) for r in acc.note_reads(ana["id"])],
            "deck": deck}


def test_delete_the_database_then_reindex_restores_accounts_notes_and_deck(workspace: Path) -> None:
    used = _use_the_portal(workspace)
    before = _snapshot(workspace)
    assert before["deck"] and before["notes"] and before["reads"] == [("boss", "admin")]

    journal = workspace / "journal"
    for kind in ("portal_accounts", "portal_notes"):
        path = journal / f"{kind}.jsonl"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, kind
        text = path.read_text()
        assert PW not in text and all(c not in text for c in used["cookies"].split())
        assert used["open_invite"] not in text and used["ana_invite"] not in text  # only the tokens' digests
        assert all(json.loads(line)["event"] for line in text.splitlines())

    for lost in workspace.glob("workbench.db*"):
        lost.unlink()
    from workbench.cli_store import reindex_command

    assert reindex_command() == 0
    assert _snapshot(workspace) == before
    assert reindex_command() == 0  # idempotent
    assert _snapshot(workspace) == before

    app = build(workspace, SETTINGS)  # the restored accounts log in with their old passwords; the invite still works
    with _client(app) as ana, _client(app) as late:
        assert _form(ana, "/login", {"username": "ana", "password": PW}) == 303
        assert used["chapter"] in ana.get("/phase/7/notes").text
        assert "reviews" in ana.get("/me/reviews").text
        assert _form(late, f"/invite/{used['open_invite']}", {"password": PW, "confirm": PW}) == 303


def test_the_portal_alone_heals_a_lost_database(workspace: Path) -> None:
    _use_the_portal(workspace)
    before = _snapshot(workspace)
    for lost in workspace.glob("workbench.db*"):
        lost.unlink()
    app = build(workspace, SETTINGS)  # no reindex: opening the workspace rebuilds from journal/
    with _client(app) as ana:
        assert _form(ana, "/login", {"username": "ana", "password": PW}) == 303
    after = _snapshot(workspace)
    assert after == before


def test_journal_refuses_secrets_and_tightens_permissions(tmp_path: Path) -> None:
    import pytest

    from engine.apps.portal.journal import PortalJournal

    j = PortalJournal(tmp_path)
    with pytest.raises(ValueError, match="password"):
        j.append("portal_accounts", {"event": "x", "password": "hunter2"})
    path = j.path("portal_notes")
    path.write_text("")
    path.chmod(0o644)
    j.append("portal_notes", {"event": "note.read", "owner": "a", "reader": "b", "reader_role": "admin", "at": "t"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_bytes(path.read_bytes() + b'{"event": "torn')  # a crash mid-write
    assert [e["event"] for _, e in j.read("portal_notes")] == ["note.read"]
