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


def test_phase_page_shows_the_learners_last_run_with_checks_and_chart(tmp_path: Path) -> None:
    """A lab run from the CLI appears on the owner's phase page (status, check table, chart PNG), even
    when the portal is the first to open a workspace whose index database was lost."""
    import re

    from fastapi.testclient import TestClient

    from engine.apps.portal.settings import PortalSettings
    from workbench.portal.wiring import build

    home = tmp_path / "ws"
    home.mkdir()
    run = run_cli("run", "phase-41/lab-04", "--quick", "--set", "days=3", home=home)
    assert run.returncode == 0, run.stdout + run.stderr
    for lost in home.glob("workbench.db*"):  # the index is lost; the portal must not hide the run behind its own tables
        lost.unlink()
    app = build(home, PortalSettings(environment="test", argon2="fast"))
    token = app.state.portal.invite("owner", "learner", ".", None)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.get("/login")
        pw = "correct horse battery staple"
        assert c.post(f"/invite/{token}", data={"csrf_token": c.cookies["csrf"], "password": pw, "confirm": pw},
                      follow_redirects=False).status_code == 303
        page = c.get("/phase/41").text
        lab = page.split('id="lab-lab-04"', 1)[1].split("</article>", 1)[0]
        assert "<strong class=\"passed\">passed</strong>" in lab
        assert lab.count('<tr class="pass">') >= 10 and "intervals_all_good" in lab
        (src,) = re.findall(r'<img src="([^"]+)"', lab)
        png = c.get(src)
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        run_id = src.split("/")[2]
        assert c.get(f"/runs/{run_id}/charts/..%2F..%2Fmanifest.json").status_code == 404
        assert c.get(f"/runs/{run_id}/charts/nope.png").status_code == 404
        assert 'id="lab-lab-06"' in page and "not run yet" in page.split('id="lab-lab-06"', 1)[1]
