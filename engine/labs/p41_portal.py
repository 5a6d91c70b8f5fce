"""Phase 41 labs: the learner portal on the standard library (sqlite3, hashlib.scrypt, hmac,
http.server on 127.0.0.1). Bootstrap and health (lab-00), passwordless onboarding with single-use
invites (lab-01), roles and attested progress (lab-02), sanitised notes (lab-03), the SM-2 review
loop on a moved clock (lab-04) and the admin dashboard's access rules and query budget (lab-05).
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.portal import notes, security, srs
from engine.portal.app import Portal
from engine.portal.server import serve
from engine.portal.settings import DEFAULT_SECRET, Settings, SettingsError, from_env
from engine.run import Recorder

SECRET = "s" * 40
PEPPER = "lab-pepper"


def _portal(**kw: Any) -> Portal:
    return Portal(Settings(session_secret=SECRET, pepper=PEPPER, environment="lab"), **kw)


def _cookie(resp: Any) -> str:
    return resp.headers["Set-Cookie"].split(";")[0].removeprefix("session=")


# ---------------------------------------------------------------------- lab 00: bootstrap
def bootstrap(cfg: dict, rec: Recorder) -> dict:
    t0 = time.perf_counter()
    settings = from_env({"LYNX_PORTAL_ENVIRONMENT": "development"})
    portal = Portal(settings)
    srv, thread = serve(portal, max_requests=int(cfg["requests"]))
    url = f"http://127.0.0.1:{srv.server_port}/health"
    with urllib.request.urlopen(url, timeout=5) as r:
        status, body = r.status, json.loads(r.read())
    startup = time.perf_counter() - t0
    for i in range(int(cfg["requests"]) - 1):
        with urllib.request.urlopen(url, timeout=5) as r:
            rec.log(i, stage="health", status=r.status)
    thread.join(10)
    refused = []
    for env in ({"LYNX_PORTAL_ENVIRONMENT": "production"}, {"LYNX_PORTAL_ENVIRONMENT": "staging"},
                {"LYNX_PORTAL_ENVIRONMENT": "production", "LYNX_PORTAL_SESSION_SECRET": "short"}):
        try:
            from_env(env)
            refused.append(False)
        except SettingsError:
            refused.append(True)
    ok_prod = from_env({"LYNX_PORTAL_ENVIRONMENT": "production", "LYNX_PORTAL_SESSION_SECRET": SECRET})
    return {
        "health_status": status,
        "health_fields": sorted(body),
        "default_secret_allowed_in_dev": settings.session_secret == DEFAULT_SECRET,
        "default_secret_rejected_outside_dev": all(refused[:2]),
        "short_secret_rejected": refused[2],
        "real_secret_accepted_in_production": ok_prod.environment == "production",
        "server_stopped": not thread.is_alive(),
        "startup_seconds": startup,
    }


# ---------------------------------------------------------------------- lab 01: onboarding
def onboarding(cfg: dict, rec: Recorder) -> dict:
    now = 1_800_000_000.0
    p = _portal(clock=now)
    p.add_user("admin", "admin")  # bootstrap admin: no password until the first login
    defaults = ["admin", "password", "changeme", "", "lynx", "123456"]
    default_hits = sum(p.handle("POST", "/login", {"username": "admin", "password": d}).status == 200 for d in defaults)
    first = p.handle("POST", "/login", {"username": "admin"})
    token = first.headers["Location"].split("token=")[1]
    p.clock = now + 601
    expired = p.handle("POST", "/set-password", {"token": token, "password": "correct horse battery"}).status
    p.clock = now
    set_ok = p.handle("POST", "/set-password", {"token": token, "password": "correct horse battery"}).status
    reuse = p.handle("POST", "/set-password", {"token": token, "password": "another long password"}).status
    login = p.handle("POST", "/login", {"username": "admin", "password": "correct horse battery"})
    cookie = _cookie(login)
    invite = json.loads(p.handle("POST", "/admin/invites", {"username": "ana", "role": "learner"}, cookie).body)["invite"]
    r1 = p.handle("POST", "/invite/redeem", {"token": invite})
    r2 = p.handle("POST", "/invite/redeem", {"token": invite})
    forged = p.handle("POST", "/invite/redeem", {"token": invite[:-1] + ("0" if invite[-1] != "0" else "1")}).status
    unknown = p.handle("POST", "/login", {"username": "nobody", "password": "whatever123"})
    wrong = p.handle("POST", "/login", {"username": "admin", "password": "wrong password!"})
    stored = p.store.one("SELECT pw_hash FROM users WHERE username = 'admin'")[0]
    times = []
    for i in range(int(cfg["verify_runs"])):
        t0 = time.perf_counter()
        security.verify_password("correct horse battery", stored, PEPPER)
        times.append((time.perf_counter() - t0) * 1000)
        rec.log(i, stage="verify", verify_ms=times[-1])
    events = [e for (e,) in p.store.all("SELECT event FROM audit ORDER BY id")]
    return {
        "default_password_exists": default_hits > 0,
        "first_login_redirects_to_set_password": first.status == 303,
        "expired_set_password_status": expired,
        "set_password_status": set_ok,
        "set_password_token_reuse_status": reuse,
        "login_after_set_status": login.status,
        "first_invite_redemption_status": r1.status,
        "second_invite_redemption_status": r2.status,
        "forged_invite_status": forged,
        "unknown_user_and_wrong_password_identical": (unknown.status, unknown.body, unknown.headers)
        == (wrong.status, wrong.body, wrong.headers),
        "pepper_required": not security.verify_password("correct horse battery", stored, "other-pepper"),
        "password_verify_ms": sorted(times)[len(times) // 2],
        "audit_events": len(events),
        "audit_event_kinds": sorted(set(events)),
    }


# ---------------------------------------------------------------------- lab 02: roles and progress
def roles_progress(cfg: dict, rec: Recorder) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        p = _portal(checkpoints=Path(tmp))
        bad = ["a", "Ana", "x" * 32, "1abc", "ana-b", "ana b", "", "ána"]
        good = ["ab", "ana", "bea_2", "c" * 31]
        rejected = 0
        for name in bad:
            try:
                p.add_user(name, "learner", "long enough password")
            except ValueError:
                rejected += 1
        for name in good:
            p.add_user(name, "learner", "long enough password")
        p.add_user("tess", "teacher", "long enough password")
        ana = _cookie(p.handle("POST", "/login", {"username": "ana", "password": "long enough password"}))
        bea = _cookie(p.handle("POST", "/login", {"username": "bea_2", "password": "long enough password"}))
        tess = _cookie(p.handle("POST", "/login", {"username": "tess", "password": "long enough password"}))
        p.store.run("INSERT INTO progress VALUES ('ana', 3, 'done'), ('ana', 4, 'in_progress')")
        drift = p.progress_state("ana", 3)
        (Path(tmp) / "ana").mkdir()
        (Path(tmp) / "ana" / "phase-03.json").write_text("{}")
        attested = p.progress_state("ana", 3)
        states = [p.progress_state("ana", ph) for ph in range(6)]
        for ph, st in enumerate(states):
            rec.log(ph, stage="progress", phase=ph, state_code=["not_started", "in_progress", "done", "drift", "attested"].index(st))
        return {
            "bad_usernames_rejected": rejected == len(bad),
            "good_usernames_accepted": len(good),
            "peer_profile_status": p.handle("GET", "/profile/ana", cookie=bea).status,
            "missing_profile_status": p.handle("GET", "/profile/zed", cookie=bea).status,
            "own_profile_status": p.handle("GET", "/profile/ana", cookie=ana).status,
            "teacher_profile_status": p.handle("GET", "/profile/ana", cookie=tess).status,
            "anonymous_profile_status": p.handle("GET", "/profile/ana").status,
            "drift_flagged_when_checkpoint_missing": drift == "drift",
            "attested_requires_checkpoint": attested == "attested" and drift != "attested",
            "progress_states": states,
        }


# ---------------------------------------------------------------------- lab 03: notes
ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "**<svg onload=alert(1)>**",
    '<a href="javascript:alert(1)">x</a>',
    "`</code><script>alert(1)</script>`",
    "<iframe src=//evil></iframe>\n\n*<body onpageshow=alert(1)>*",
]


def note_rules(cfg: dict, rec: Recorder) -> dict:
    rendered = [notes.render(a) for a in ATTACKS]
    for i, h in enumerate(rendered):
        rec.log(i, stage="attack", live_script=notes.live_script(h))
    # The detector itself must see the attacks when nothing escapes them (else the check proves nothing).
    raw_hits = sum(notes.live_script(a) > 0 for a in ATTACKS)

    def rejected(anchor: str, body: str, tags: list[str]) -> bool:
        try:
            notes.validate(anchor, body, tags)
            return False
        except notes.NoteError:
            return True

    anchor = "phase-07/backpropagation#p3"
    limit = notes.MAX_NOTE_BYTES
    bad_tags = [["Bad Tag"], ["x" * 33], [f"t{i}" for i in range(9)], ["-lead"], ["ok", "no_underscore"]]
    return {
        "script_injection_rendered": sum(notes.live_script(h) for h in rendered),
        "unescaped_attacks_detected": raw_hits,
        "markdown_still_renders": notes.render("a **b** *c* `d`") == "<p>a <strong>b</strong> <em>c</em> <code>d</code></p>",
        "oversize_note_rejected": rejected(anchor, "x" * (limit + 1), []),
        "max_size_note_accepted": not rejected(anchor, "x" * limit, []),
        "bad_tags_rejected": all(rejected(anchor, "hi", t) for t in bad_tags),
        "good_tags_accepted": not rejected(anchor, "hi", [f"t{i}" for i in range(8)]),
        "bad_anchor_rejected": rejected("phase-07/" + "h" * 130 + "#p1", "hi", []) and rejected("../etc#p1", "hi", []),
    }


# ---------------------------------------------------------------------- lab 04: SM-2
def _intervals(grades: list[int], variant: str, ease: float) -> tuple[list[int], float]:
    card, day, out = srs.Card(due=date(2026, 1, 1), ease=ease), date(2026, 1, 1), []
    for g in grades:
        card = srs.review(card, g, day, variant)
        out.append(card.interval)
        day = card.due
    return out, card.ease


def review_loop(cfg: dict, rec: Recorder) -> dict:
    ease0, cap = float(cfg["initial_ease"]), int(cfg["daily_cap"])
    good, _ = _intervals([4] * 7, cfg["variant"], ease0)
    fail, fail_ease = _intervals([4, 4, 0, 4, 4, 4], cfg["variant"], ease0)
    portal, portal_ease = _intervals([4, 4, 0, 4, 4, 4], "portal", ease0)
    # The exam: a wrong answer seeds a card due tomorrow; failing the same item again later keeps the card.
    today = datetime(2026, 3, 1, 23, 30, tzinfo=UTC).date()  # UTC calendar days
    deck: dict[str, srs.Card] = {}

    def exam_wrong(item: str, day: date) -> None:
        deck.setdefault(item, srs.seed_card(day, ease0))

    exam_wrong("q01", today)
    due_next_day = srs.due_queue(deck, today) == [] and srs.due_queue(deck, today + timedelta(days=1)) == ["q01"]
    deck["q01"] = srs.review(deck["q01"], 4, today + timedelta(days=1))
    before = deck["q01"]
    exam_wrong("q01", today + timedelta(days=2))
    keeps = deck["q01"] == before
    # Move the clock forward day by day: every card must show up on the day it is due, no earlier.
    for i in range(2, int(cfg["cards"]) + 1):
        exam_wrong(f"q{i:02d}", today + timedelta(days=i % 5))
    shown_on_time, reviews, peak = True, 0, 0
    day = today
    for step in range(int(cfg["days"])):
        queue = srs.due_queue(deck, day, cap)
        peak = max(peak, len(queue))
        for item in queue:
            shown_on_time &= deck[item].due == day
            grade = 0 if (reviews % 7 == 3) else 4
            deck[item] = srs.review(deck[item], grade, day)
            reviews += 1
        rec.log(step, stage="clock", day=step, due_today=len(queue))
        day += timedelta(days=1)
    crowd = {f"c{i}": srs.Card(due=today) for i in range(cap + 15)}
    return {
        "intervals_all_good": good,
        "intervals_with_one_failure": fail,
        "ease_after_one_failure": fail_ease,
        "intervals_portal_variant": portal,
        "ease_portal_variant": portal_ease,
        "failed_exam_item_due_next_day": due_next_day,
        "repeat_failure_keeps_card": keeps,
        "cards_shown_on_scheduled_day": shown_on_time,
        "reviews_done": reviews,
        "daily_queue_peak": peak,
        "queue_capped_at": len(srs.due_queue(crowd, today, cap)),
    }


# ---------------------------------------------------------------------- lab 05: dashboard
def dashboard(cfg: dict, rec: Recorder) -> dict:
    p = _portal()
    pw = "long enough password"
    p.add_user("root", "admin", pw)
    p.add_user("tess", "teacher", pw)
    names = [f"learner{i:02d}" for i in range(int(cfg["learners"]))]
    for n in names:
        p.add_user(n, "learner", pw)
    ana = _cookie(p.handle("POST", "/login", {"username": names[0], "password": pw}))
    tess = _cookie(p.handle("POST", "/login", {"username": "tess", "password": pw}))
    root = _cookie(p.handle("POST", "/login", {"username": "root", "password": pw}))
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds")
    old = (datetime.now(UTC) - timedelta(days=20)).isoformat(timespec="seconds")
    p.store.run("UPDATE users SET last_activity = ? WHERE role = 'learner'", recent)
    p.store.run("UPDATE users SET last_activity = ? WHERE username = ?", old, names[-1])
    for i, n in enumerate(names):
        for ph in range(i % 10):
            p.store.run("INSERT INTO progress VALUES (?, ?, 'done')", n, ph)
        p.store.run("INSERT INTO quiz_results VALUES (?, 1, 'quiz', 0.8, ?)", n, i % 2)
        p.store.run("INSERT INTO quiz_results VALUES (?, 1, 'exam', ?, 1)", n, 0.5 + i / 100)
        p.store.run("INSERT INTO cards VALUES (?, 'q1', '2026-01-01', 2.5, 1, 1)", n)
    before = p.store.queries
    page = p.handle("GET", "/admin", cookie=tess)
    queries = p.store.queries - before
    rows = json.loads(page.body)
    rec.log(0, stage="dashboard", learners=len(rows), queries=queries)
    return {
        "admin_status_for_learner": p.handle("GET", "/admin", cookie=ana).status,
        "admin_status_for_anonymous": p.handle("GET", "/admin").status,
        "admin_status_for_teacher": page.status,
        "admin_status_for_admin": p.handle("GET", "/admin", cookie=root).status,
        "dashboard_db_queries": queries,
        "dashboard_rows": len(rows),
        "strip_cells": len(rows[0]["strip"]),
        "idle_learners": sum(r["idle"] for r in rows),
        "teacher_write_rejected": p.handle("POST", "/admin/invites", {"username": "eve"}, tess).status == 403,
        "admin_write_allowed": p.handle("POST", "/admin/invites", {"username": "eve"}, root).status == 201,
    }
