"""`workbench portal` from the command line: an invite that redeems, a backup that restores, and
a refusal to start with the default secret in production (real CLI subprocesses on a temp workspace)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import run_cli

FAST = {"LYNX_PORTAL_ENV": "test", "LYNX_PORTAL_ARGON2": "fast"}


def test_invite_backup_restore_and_weak_settings(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    r = run_cli("portal", "invite", "boss", "--role", "admin", home=home, env=FAST)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("http://127.0.0.1:8001/invite/")

    b = run_cli("portal", "backup", "--keep", "2", home=home, env=FAST)
    assert b.returncode == 0, b.stderr
    snap = Path(b.stdout.split(" (")[0])
    assert (snap / "workbench.db").is_file() and "integrity ok" in b.stdout
    conn = sqlite3.connect(home / "workbench.db")
    conn.execute("DELETE FROM portal_invites")
    conn.commit()
    conn.close()
    rs = run_cli("portal", "restore", str(snap), home=home, env=FAST)
    assert rs.returncode == 0, rs.stderr
    conn = sqlite3.connect(home / "workbench.db")
    assert conn.execute("SELECT username FROM portal_invites").fetchall() == [("boss",)]
    conn.close()

    weak = run_cli("portal", "--port", "0", home=home, env={"LYNX_PORTAL_ENV": "production"})
    assert weak.returncode == 2 and "LYNX_PORTAL_SESSION_SECRET" in weak.stderr  # refused before binding anything
