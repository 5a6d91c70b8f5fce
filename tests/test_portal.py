"""Unit tests of the portal's building blocks: settings refusals, Argon2id with a pepper, signed
tokens, the rate limiter, notes rendering, the audit log's PII rule, account migrations, and
backup/restore with integrity checks."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.apps.portal import backup, notes, passwords
from engine.apps.portal.accounts import SCHEMA_VERSION, AccountError, Accounts, check_username
from engine.apps.portal.audit import AuditError, AuditLog
from engine.apps.portal.ratelimit import RateLimiter
from engine.apps.portal.settings import DEFAULT_SECRET, SettingsError, from_env
from engine.apps.portal.tokens import Tokens

PROD = {"LYNX_PORTAL_ENV": "production", "LYNX_PORTAL_SESSION_SECRET": "k" * 40, "LYNX_PORTAL_PEPPER": "p" * 32}


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"LYNX_PORTAL_SESSION_SECRET": DEFAULT_SECRET}, "SESSION_SECRET"),
        ({"LYNX_PORTAL_SESSION_SECRET": "k" * 31}, "SESSION_SECRET"),
        ({"LYNX_PORTAL_PEPPER": ""}, "PEPPER"),
        ({"LYNX_PORTAL_PEPPER": "p" * 31}, "PEPPER"),
        ({"LYNX_PORTAL_ARGON2": "fast"}, "ARGON2"),
        ({"LYNX_PORTAL_ENV": "staging"}, "ENV"),
        ({"LYNX_PORTAL_PORT": "eighty"}, "PORT"),
    ],
)
def test_production_settings_refuse_weak_values(override: dict[str, str], field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        from_env({**PROD, **override})


def test_production_settings_accept_real_values_and_dev_fills_placeholders() -> None:
    s = from_env(PROD)
    assert s.secure_cookies and s.argon2 == "owasp"  # the default profile (docs/PORTAL.md: the decision)
    dev = from_env({})
    assert dev.environment == "dev" and dev.session_secret == DEFAULT_SECRET and len(dev.pepper) >= 32
    assert not dev.secure_cookies


def test_argon2id_is_salted_peppered_and_uses_the_stated_profile() -> None:
    pw = passwords.Passwords("pepper-one", passwords.FAST)
    h1, h2 = pw.hash("secret words"), pw.hash("secret words")
    assert h1 != h2 and h1.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert pw.verify(h1, "secret words") and not pw.verify(h1, "Secret words")
    assert not passwords.Passwords("pepper-two", passwords.FAST).verify(h1, "secret words")
    assert passwords.Argon2Params(3, 128 * 1024, 1) == passwords.TUNED  # docs/PORTAL.md states it


def test_a_missing_hash_never_verifies_and_still_costs_one_argon2_call() -> None:
    pw = passwords.Passwords("pepper", passwords.FAST)
    before = pw.verifications
    assert pw.verify(None, "") is False and pw.verify(None, "anything") is False
    assert pw.verify("not-a-hash", "x") is False
    assert pw.verifications - before == 3


def test_tokens_expire_bind_their_purpose_and_reject_garbage() -> None:
    now = [1000.0]
    t = Tokens("k" * 32, clock=lambda: now[0])
    tok = t.sign("invite", "abc")
    assert t.check("invite", tok, 60) == ("ok", "abc")
    assert t.check("session", tok, 60) == ("invalid", None)
    assert Tokens("x" * 32, clock=lambda: now[0]).check("invite", tok, 60) == ("invalid", None)
    now[0] += 61
    assert t.check("invite", tok, 60) == ("expired", None)
    for junk in ("", "garbage", "a.b.c", "é" * 10, "x" * 5000):
        assert t.load("invite", junk, 60) is None


def test_rate_limiter_window_slides_and_keys_are_bounded() -> None:
    now = [0.0]
    rl = RateLimiter(3, 60.0, clock=lambda: now[0], max_keys=100)
    assert [rl.allow("a") for _ in range(4)] == [True, True, True, False]
    assert rl.allow("b")
    now[0] = 60.5
    assert rl.allow("a")
    for i in range(500):
        rl.allow(f"k{i}")
    assert len(rl._hits) <= 100


@pytest.mark.parametrize(
    "attack",
    ["<script>x</script>", "<img src=a onerror=b>", "<b onclick=x>**y**</b>", "[x](javascript:alert(1))",
     '<a href="javascript:alert(1)">x</a>', "<style>*{}</style><iframe src=//e></iframe>"],
)
def test_rendered_markdown_never_carries_live_markup(attack: str) -> None:
    html = notes.render(attack)
    assert notes.live_script(html) == 0
    assert "<iframe" not in html and "<style" not in html


def test_markdown_renders_and_sanitizer_keeps_only_the_allow_list() -> None:
    assert notes.render("a **b** *c* `d`") == "<p>a <strong>b</strong> <em>c</em> <code>d</code></p>\n"
    assert 'href="https://example.org"' in notes.render("[x](https://example.org)")
    assert notes.sanitize('<p onclick="x">a<script>b</script></p>') == "<p>a</p>"


def test_note_limits_are_the_course_ones() -> None:
    notes.validate("phase-07::00-motivation", "x" * notes.MAX_NOTE_BYTES, [f"t{i}" for i in range(8)])
    for anchor, body, tags in [
        ("phase-07::00-motivation", "é" * (notes.MAX_NOTE_BYTES // 2 + 1), []),  # bytes, not characters
        ("phase-07::00-motivation", "x", [f"t{i}" for i in range(9)]),
        ("phase-07::00-motivation", "x", ["Bad"]),
        ("phase-07::00-motivation", "x", ["a" * 32]),
        ("phase-07::00-motivation", "x", ["1st"]),
        ("../etc/passwd", "x", []),
        ("phase-07::" + "h" * 130, "x", []),
    ]:
        with pytest.raises(notes.NoteError):
            notes.validate(anchor, body, tags)


def test_audit_log_refuses_pii_fields_and_non_scalars(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    for field in ("password", "pw_hash", "session_cookie", "token", "note_body", "answers", "csrf"):
        with pytest.raises(AuditError, match="PII"):
            log.write("auth.login.attempt", **{field: "x"})
    with pytest.raises(AuditError):
        log.write("auth.login.attempt", details={"a": 1})
    with pytest.raises(AuditError):
        log.write("not.an.event")
    rec = log.write("note.saved", user_id=3, length=120)
    assert log.read() == [rec]
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert (tmp_path / f"{day}.log").is_file()


def test_usernames(tmp_path: Path) -> None:
    for good in ("ab", "ana", "bea_2", "c-d", "c" * 31):
        assert check_username(good) == good
    for bad in ("a", "Ana", "1ab", "a b", "ána", "c" * 32, "", "a/b"):
        with pytest.raises(AccountError):
            check_username(bad)


def test_account_migrations_are_versioned_apart_from_user_version(tmp_path: Path) -> None:
    db = tmp_path / "workbench.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 7")  # the workbench's own scheme must be left alone
    conn.execute("CREATE TABLE runs (id TEXT)")
    conn.commit()
    conn.close()
    Accounts(db)
    Accounts(db)  # idempotent
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    assert conn.execute("SELECT version FROM portal_schema WHERE name = 'accounts'").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "portal_users", "portal_sessions", "portal_invites", "portal_notes"} <= tables
    conn.execute("UPDATE portal_schema SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(AccountError, match="newer"):
        Accounts(db)


def test_invites_are_single_use_and_stored_as_digests(tmp_path: Path) -> None:
    acc = Accounts(tmp_path / "w.db")
    acc.create_invite("raw-token-1", "ana", "learner", "learners/ana", None, 3600)
    assert acc.invite("raw-token-1")[0] == "open"
    with pytest.raises(AccountError):
        acc.create_invite("raw-token-2", "ana", "learner", "learners/ana", None, 3600)  # one open invite per name
    assert acc.redeem("raw-token-1", "$argon2id$fake") is not None
    assert acc.redeem("raw-token-1", "$argon2id$other") is None
    assert acc.invite("raw-token-1")[0] == "used"
    raw = (tmp_path / "w.db").read_bytes()
    assert b"raw-token-1" not in raw
    late = datetime.now(UTC) + timedelta(hours=2)
    acc.create_invite("raw-token-3", "bea", "learner", "learners/bea", None, 3600)
    assert acc.invite("raw-token-3", late)[0] == "expired"
    assert acc.redeem("raw-token-3", "h", late) is None


def test_one_owner_per_workspace(tmp_path: Path) -> None:
    acc = Accounts(tmp_path / "w.db")
    assert not acc.owner_taken()
    acc.create_invite("owner-token", "ana", "learner", ".", None, 3600)
    assert acc.owner_taken()  # an open owner invite already claims the workspace


def _db(path: Path, rows: int) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (i INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(rows)])
    conn.commit()
    conn.close()
    return path


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]
    finally:
        conn.close()


def test_backup_is_online_verified_retained_and_restorable(tmp_path: Path) -> None:
    live = {"workbench": _db(tmp_path / "a.db", 10), "learner-ana": _db(tmp_path / "b.db", 3)}
    dest = tmp_path / "backups"
    writer = sqlite3.connect(live["workbench"])  # a writer holds the DB open during the backup
    writer.execute("INSERT INTO t VALUES (99)")
    writer.commit()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    snaps = [backup.snapshot(live, dest, keep=3, now=base + timedelta(days=d)) for d in range(5)]
    writer.close()
    kept = backup.snapshots(dest)
    assert kept == [s.path for s in snaps[-3:]]
    assert (dest / ".last_ok").read_text().strip().startswith("20260105")
    assert all(backup.integrity(p) == "ok" for p in snaps[-1].files.values())
    _db(live["workbench"], 1000)  # damage after the backup: extra rows
    live["learner-ana"].unlink()
    restored = backup.restore(snaps[-1].path, live)
    assert restored == ["learner-ana", "workbench"]
    assert _count(live["workbench"]) == 11 and _count(live["learner-ana"]) == 3


def test_restore_refuses_a_corrupt_snapshot_and_writes_nothing(tmp_path: Path) -> None:
    live = {"workbench": _db(tmp_path / "a.db", 5)}
    snap = backup.snapshot(live, tmp_path / "b")
    copy = snap.path / "workbench.db"
    data = bytearray(copy.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # wreck the header and first page
    copy.write_bytes(bytes(data))
    _db(live["workbench"], 2)
    with pytest.raises((backup.BackupError, sqlite3.DatabaseError)):
        backup.restore(snap.path, live)
    assert _count(live["workbench"]) == 7


def test_a_hash_made_with_other_parameters_is_upgraded_on_login(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from engine.apps.portal.app import make_app
    from engine.apps.portal.settings import PortalSettings
    from workbench.portal.adapter import WorkspaceLearning

    acc = Accounts(tmp_path / "w.db")
    old = passwords.Passwords("p" * 40, passwords.Argon2Params(1, 4096, 1))
    acc.create_invite("t", "ana", "learner", "learners/ana", None, 3600)
    acc.redeem("t", old.hash("long enough password"))
    app = make_app(PortalSettings(environment="test", argon2="fast", pepper="p" * 40), acc,
                   WorkspaceLearning(tmp_path), tmp_path / "audit")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.get("/login")
        r = c.post("/login", data={"csrf_token": c.cookies["csrf"], "username": "ana", "password": "long enough password"},
                   follow_redirects=False)
    assert r.status_code == 303
    assert acc.user(username="ana")["pw_hash"].startswith("$argon2id$v=19$m=8192,t=1,p=1$")
