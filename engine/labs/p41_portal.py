"""Phase 41 labs on the real portal (engine/apps/portal: FastAPI, argon2-cffi, itsdangerous, uvicorn)
against a temporary workspace. The learning side is the backend the YAML names (the workbench's
WorkspaceLearning: its catalog, graders, SM-2 deck and progress), so the engine never imports it.

lab-00 bootstrap and health over uvicorn on 127.0.0.1; lab-01 invite-only onboarding, uniform
login failures, Argon2id timing; lab-02 roles, 404 for peers, the strip fed by a CLI quiz;
lab-03 notes through the real route; lab-04 exam -> SM-2 deck on a moved clock; lab-05 the
teacher/admin dashboard.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from engine.apps import srs
from engine.apps.portal import notes, passwords
from engine.apps.portal.accounts import AccountError, Accounts, check_username
from engine.apps.portal.app import make_app
from engine.apps.portal.audit import AuditError
from engine.apps.portal.ports import load_backend
from engine.apps.portal.server import background
from engine.apps.portal.settings import DEFAULT_SECRET, SettingsError, from_env
from engine.core.run import Recorder

with warnings.catch_warnings():  # Starlette 1.x prefers the httpx2 fork; httpx is what is installed and works
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

SECRET = "s" * 40
PEPPER = "p" * 40
PASSWORD = "correct horse battery staple"
T0 = 1_800_000_000.0  # 2027-01-15 UTC: a fixed clock the labs move by hand


@dataclass
class Clock:
    t: float = T0

    def __call__(self) -> float:
        return self.t

    def days(self, n: float) -> None:
        self.t += n * 86400


@dataclass
class Site:
    """A portal on a temporary workspace, driven in-process through its ASGI interface."""

    root: Path
    app: Any
    clock: Clock
    clients: dict[str, TestClient] = field(default_factory=dict)

    @property
    def portal(self) -> Any:
        return self.app.state.portal

    def client(self, name: str) -> TestClient:
        if name not in self.clients:
            self.clients[name] = TestClient(self.app, base_url="http://127.0.0.1")
            self.clients[name].get("/login")  # receives its CSRF cookie
        return self.clients[name]

    def post(self, who: str, path: str, data: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        c = self.client(who)
        return c.post(path, data={"csrf_token": c.cookies.get("csrf") or "", **(data or {})}, follow_redirects=False, **kw)

    def enrol(self, who: str, role: str = "learner", workspace: str | None = None) -> httpx.Response:
        token = self.portal.invite(who, role, workspace or f"learners/{who}", None)
        return self.post(who, f"/invite/{token}", {"password": PASSWORD, "confirm": PASSWORD})

    def login(self, who: str, password: str = PASSWORD, client: str | None = None) -> httpx.Response:
        return self.post(client or who, "/login", {"username": who, "password": password})


@contextmanager
def site(cfg: dict, **settings: Any) -> Iterator[Site]:
    with tempfile.TemporaryDirectory(prefix="portal-lab-") as tmp:
        root = Path(tmp)
        clock = Clock()
        env = {"LYNX_PORTAL_ENV": "test", "LYNX_PORTAL_ARGON2": "fast", "LYNX_PORTAL_SESSION_SECRET": SECRET,
               "LYNX_PORTAL_PEPPER": PEPPER}
        learning = load_backend(cfg["learning"], root)  # first: the workspace store opens the file before the portal's tables
        app = make_app(from_env(env, **settings), Accounts(root / "workbench.db"), learning, root / "portal" / "audit",
                       clock=clock)
        s = Site(root, app, clock)
        try:
            yield s
        finally:
            for c in s.clients.values():
                c.close()


def _refused(env: dict[str, str]) -> bool:
    try:
        from_env(env)
    except SettingsError:
        return True
    return False


# ---------------------------------------------------------------------- lab 00: bootstrap
def bootstrap(cfg: dict, rec: Recorder) -> dict:
    prod = {"LYNX_PORTAL_ENV": "production", "LYNX_PORTAL_SESSION_SECRET": SECRET, "LYNX_PORTAL_PEPPER": PEPPER}
    refusals = {
        "default_secret_rejected_outside_dev": _refused({**prod, "LYNX_PORTAL_SESSION_SECRET": DEFAULT_SECRET}),
        "short_secret_rejected": _refused({**prod, "LYNX_PORTAL_SESSION_SECRET": "short-secret"}),
        "empty_pepper_rejected": _refused({**prod, "LYNX_PORTAL_PEPPER": ""}),
        "short_pepper_rejected": _refused({**prod, "LYNX_PORTAL_PEPPER": "p" * 31}),
        "fast_argon2_rejected_outside_dev": _refused({**prod, "LYNX_PORTAL_ARGON2": "fast"}),
        "real_settings_accepted": not _refused(prod),
    }
    dev = from_env({"LYNX_PORTAL_ENV": "dev", "LYNX_PORTAL_ARGON2": "fast"})
    with tempfile.TemporaryDirectory(prefix="portal-lab-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        learning = load_backend(cfg["learning"], root)
        app = make_app(dev, Accounts(root / "workbench.db"), learning, root / "audit")
        with background(app) as url:
            statuses = []
            with httpx.Client(base_url=url, timeout=10) as http:
                first = http.get("/healthz")
                startup = time.perf_counter() - t0
                for i in range(int(cfg["requests"])):
                    r = http.get("/healthz")
                    statuses.append(r.status_code)
                    rec.log(i, stage="health", status=r.status_code)
                cookie_page = http.get("/login")
            port = int(url.rsplit(":", 1)[1])
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            stopped = False
        except httpx.HTTPError:
            stopped = True
    body = first.json()
    return {
        **refusals,
        "health_status": first.status_code,
        "health_fields": sorted(body),
        "all_health_ok": all(s == 200 for s in statuses),
        "default_secret_allowed_in_dev": dev.session_secret == DEFAULT_SECRET,
        "bound_to_loopback": url.startswith("http://127.0.0.1:"),
        "port_was_ephemeral": port != 8001,
        "csp_header": "script-src 'self'" in cookie_page.headers.get("content-security-policy", ""),
        "server_stopped": stopped,
        "startup_seconds": startup,
    }


# ---------------------------------------------------------------------- lab 01: onboarding
def onboarding(cfg: dict, rec: Recorder) -> dict:
    with site(cfg) as s:
        defaults = ["", "admin", "password", "changeme", "lynx", "123456"]
        before = [s.login("admin", d, client="attacker").status_code for d in defaults]
        token = s.portal.invite("admin", "admin", "learners/admin", None)
        passwordless = s.post("attacker", "/login", {"username": "admin"}).status_code
        forged = s.client("attacker").get(f"/invite/{'J' if token[0] != 'J' else 'K'}{token[1:]}").status_code
        short = s.post("admin", f"/invite/{token}", {"password": "short", "confirm": "short"}).status_code
        csrf = s.client("admin").cookies.get("csrf")
        planted = {"cookie": f"csrf={csrf}; session=attacker-chosen-value"}  # a fixation attempt
        first = s.post("admin", f"/invite/{token}", {"password": PASSWORD, "confirm": PASSWORD}, headers=planted)
        second = s.post("attacker", f"/invite/{token}", {"password": "x" * 20, "confirm": "x" * 20}).status_code
        rotated = s.client("admin").cookies.get("session") not in (None, "attacker-chosen-value")
        admin_page = s.client("admin").get("/admin").status_code
        after = [s.login("admin", d, client="attacker").status_code for d in defaults]
        tries = [*before, passwordless, *after]  # every login attempt on "admin", in order
        limited = tries.index(429) if 429 in tries else -1
        s.clock.t += 61  # the per-username window passes
        late = s.portal.invite("late", "learner", "learners/late", None)
        s.clock.days(8)
        expired = s.client("late").get(f"/invite/{late}").status_code
        calls0 = s.portal.passwords.verifications
        unknown = s.login("nobody", "whatever-password", client="probe")
        calls1 = s.portal.passwords.verifications
        wrong = s.login("admin", "wrong password!!", client="probe")
        calls2 = s.portal.passwords.verifications
        login = s.login("admin")
        events = s.portal.audit.read()
        audit_text = "\n".join(p.read_text() for p in (s.root / "portal" / "audit").glob("*.log"))
        secrets_in_audit = sum(audit_text.count(x) for x in (PASSWORD, token, s.client("admin").cookies.get("session") or "?"))
        try:
            s.portal.audit.write("auth.login.attempt", password="hunter2")
            pii_refused = False
        except AuditError:
            pii_refused = True
    tuned = passwords.measure_verify_ms(passwords.TUNED, int(cfg["verify_runs"]))
    tuned_cpu = passwords.measure_verify_ms(passwords.TUNED, int(cfg["verify_runs"]), cpu=True)
    previous_cpu = passwords.measure_verify_ms(passwords.PREVIOUS, int(cfg["verify_runs"]), cpu=True)
    for i, ms in enumerate(tuned):
        rec.log(i, stage="verify", verify_ms=ms)
    keyed = passwords.Passwords(PEPPER, passwords.FAST)
    stored = keyed.hash(PASSWORD)
    return {
        "default_password_exists": any(code == 303 for code in tries),
        "login_attempts_before_rate_limit": limited,
        "passwordless_login_status": passwordless,
        "forged_invite_status": forged,
        "short_password_status": short,
        "first_invite_redemption_status": first.status_code,
        "second_invite_redemption_status": second,
        "expired_invite_status": expired,
        "admin_reaches_dashboard": admin_page,
        "session_rotated_on_login": rotated,
        "unknown_user_and_wrong_password_identical": (unknown.status_code, unknown.content) == (wrong.status_code, wrong.content),
        "login_failure_status": wrong.status_code,
        "argon2_verifies_unknown_user": calls1 - calls0,
        "argon2_verifies_wrong_password": calls2 - calls1,
        "login_after_redeem_status": login.status_code,
        "pepper_required": not passwords.Passwords("o" * 40, passwords.FAST).verify(stored, PASSWORD)
        and keyed.verify(stored, PASSWORD),
        "audit_events": len(events),
        "audit_event_kinds": sorted({e["event"] for e in events}),
        "secrets_in_audit_log": secrets_in_audit,
        "pii_field_refused": pii_refused,
        "argon2_params": passwords.TUNED.describe(),
        "password_verify_ms": passwords.median_ms(tuned),
        "password_verify_cpu_ms": passwords.median_ms(tuned_cpu),
        # Argon2 costs t x m: 3 x 128 MiB against the previous 2 x 64 MiB predicts 3.0x
        "cost_ratio_vs_previous_profile": passwords.median_ms(tuned_cpu) / passwords.median_ms(previous_cpu),
    }


# ---------------------------------------------------------------------- lab 02: roles and progress
def _strip(html: str) -> list[str]:
    block = html.split('<ol class="strip"', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<li class="cell (\w+)"', block)


def roles_progress(cfg: dict, rec: Recorder) -> dict:
    bad = ["a", "Ana", "x" * 32, "1abc", "ana b", "", "ána", "ana/../x"]
    good = ["ab", "ana", "bea_2", "c-d", "c" * 31]
    rejected = 0
    for name in bad:
        try:
            check_username(name)
        except AccountError:
            rejected += 1
    accepted = 0
    for name in good:
        check_username(name)
        accepted += 1
    with site(cfg) as s:
        number = int(cfg["quiz_phase"])
        # The owner answers a quiz in the terminal first (the real CLI on this workspace) ...
        answers = s.root / "answers.yaml"
        answers.write_text("{}\n")
        env = {**os.environ, "WORKBENCH_HOME": str(s.root), "COLUMNS": "120"}
        cli = subprocess.run([sys.executable, "-m", "workbench.cli", "quiz", str(number), "--answers", str(answers)],
                             cwd=s.root, env=env, capture_output=True, text=True, timeout=120, check=False)
        # ... then continues in the browser.
        s.enrol("owner", workspace=".")
        s.enrol("ana")
        s.enrol("bea")
        s.enrol("tess", "teacher")
        owner_me = s.client("owner").get("/me").text
        strip = _strip(owner_me)
        for ph, st in enumerate(strip):
            rec.log(ph, stage="progress", phase=ph, state_code=["not_started", "in_progress", "done"].index(st))
        owner_reviews = s.client("owner").get("/me/reviews").text
        owner_phase = s.client("owner").get(f"/phase/{number}").text
        cli_attempt_rows = len(re.findall(r'<tr class="fail"><td>[^<]*</td><td>answers</td>', owner_phase))
        ana_strip = _strip(s.client("ana").get("/me").text)
        return {
            "bad_usernames_rejected": rejected == len(bad),
            "good_usernames_accepted": accepted,
            "cli_quiz_exit": cli.returncode,
            "strip_cells": len(strip),
            "cli_quiz_phase_in_progress_in_browser": strip[number] == "in_progress",
            "cli_quiz_cards_in_browser_reviews": owner_reviews.count('<tr id="up-') + len(_due_ids(owner_reviews)),
            "other_learner_strip_untouched": ana_strip[number] == "not_started",
            "cli_attempt_listed_on_phase_page": cli_attempt_rows,
            "peer_profile_status": s.client("bea").get("/u/ana").status_code,
            "missing_profile_status": s.client("bea").get("/u/zed").status_code,
            "own_profile_status": s.client("ana").get("/u/ana").status_code,
            "teacher_profile_status": s.client("tess").get("/u/ana").status_code,
            "anonymous_profile_status": s.client("nobody").get("/u/ana").status_code,
        }


# ---------------------------------------------------------------------- lab 03: notes
ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "**<svg onload=alert(1)>**",
    "[x](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "`</code><script>alert(1)</script>`",
    "<iframe src=//evil></iframe>\n\n*<body onpageshow=alert(1)>*",
]


def _note_html(page: str) -> list[str]:
    return re.findall(r'<article class="note" id="[^"]+"><h3>[^<]*</h3>\s*<div class="md">(.*?)</div>', page, flags=re.S)


def note_rules(cfg: dict, rec: Recorder) -> dict:
    with site(cfg) as s:
        s.enrol("ana")
        number = int(cfg["notes_phase"])
        chapters = [c["id"] for c in s.portal.learning.phase(number)["chapters"]]
        statuses, live = [], 0
        for i, attack in enumerate(ATTACKS):
            chapter = chapters[i % len(chapters)]
            statuses.append(s.post("ana", f"/phase/{number}/notes", {"chapter": chapter, "body": attack}).status_code)
            page = s.client("ana").get(f"/phase/{number}/notes").text
            hits = sum(notes.live_script(h) for h in _note_html(page))
            live += hits
            rec.log(i, stage="attack", live_script=hits)
        raw_hits = sum(notes.live_script(a) > 0 for a in ATTACKS)
        ch = chapters[0]
        s.post("ana", f"/phase/{number}/notes", {"chapter": ch, "body": "a **b** *c* `d`", "tags": "t0 t1"})
        rendered = _note_html(s.client("ana").get(f"/phase/{number}/notes").text)
        limit = notes.MAX_NOTE_BYTES

        def save(body: str, tags: str = "", chapter: str = ch) -> int:
            return s.post("ana", f"/phase/{number}/notes", {"chapter": chapter, "body": body, "tags": tags}).status_code

        bad_tags = ["Bad", "x" * 32, " ".join(f"t{i}" for i in range(9)), "-lead", "ok no_underscore"]
        return {
            "attack_notes_saved": statuses.count(303),
            "script_injection_rendered": live,
            "unescaped_attacks_detected": raw_hits,
            "markdown_still_renders": any("<strong>b</strong> <em>c</em> <code>d</code>" in h for h in rendered),
            "max_size_note_status": save("x" * limit),
            "oversize_note_status": save("x" * (limit + 1)),
            "over_body_cap_status": save("x" * (70 * 1024)),
            "good_tags_status": save("hi", " ".join(f"t{i}" for i in range(8))),
            "bad_tags_statuses": sorted({save("hi", t) for t in bad_tags}),
            "unknown_chapter_status": save("hi", chapter="../../etc"),
        }


# ---------------------------------------------------------------------- lab 04: exams and SM-2
def _intervals(grades: list[int], variant: str, ease: float) -> tuple[list[int], float]:
    card, day, out = srs.Card(due=date(2026, 1, 1), ease=ease), date(2026, 1, 1), []
    for g in grades:
        card = srs.review(card, g, day, variant)
        out.append(card.interval)
        day = card.due
    return out, card.ease


def _due_ids(page: str) -> list[str]:
    return re.findall(r'<article class="review" id="card-([^"]+)"', page)


def review_loop(cfg: dict, rec: Recorder) -> dict:
    ease0, cap = float(cfg["initial_ease"]), int(cfg["daily_cap"])
    good, _ = _intervals([4] * 7, cfg["variant"], ease0)
    fail, fail_ease = _intervals([4, 4, 0, 4, 4, 4], cfg["variant"], ease0)
    portal, portal_ease = _intervals([4, 4, 0, 4, 4, 4], "portal", ease0)
    crowd = {f"c{i}": srs.Card(due=date(2026, 1, 1)) for i in range(cap + 15)}
    with site(cfg, session_ttl_s=400 * 86400) as s:  # the clock moves by days; sessions must outlive it
        number = int(cfg["exam_phase"])
        s.enrol("ana")
        intro = s.client("ana").get(f"/phase/{number}/exam").status_code
        sheet = s.post("ana", f"/phase/{number}/exam/start").text
        token = re.search(r'name="exam_token" value="([^"]+)"', sheet).group(1)
        exam = s.post("ana", f"/phase/{number}/exam", {"exam_token": token})  # every answer blank: all wrong
        n_wrong = int(re.search(r"<strong>0 of (\d+) correct</strong>", exam.text).group(1))
        resubmit = s.post("ana", f"/phase/{number}/exam", {"exam_token": token}).status_code
        due_today = len(_due_ids(s.client("ana").get("/me/reviews").text))
        # Move the clock a day at a time, grade every due card Good (every 4th Again); each card must be due
        # exactly on the day engine.apps.srs scheduled it.
        expected: dict[str, date] = {}
        start = date.fromtimestamp(s.clock())
        shown_on_time, reviews, first_day_due, relearned = True, 0, None, 0
        for step in range(int(cfg["days"])):
            s.clock.days(1)
            today = start + timedelta(days=step + 1)
            due = _due_ids(s.client("ana").get("/me/reviews").text)
            if first_day_due is None:
                first_day_due = len(due)
            shown_on_time &= all(expected.get(k, today) == today for k in due)
            shown_on_time &= all(d > today or k in due for k, d in expected.items())
            for relearn_pass in range(3):  # an Again is due again today (relearning): it comes back until passed
                for key in due:
                    quiz_id, item_id = _split_card(key)
                    grade = "again" if reviews % 4 == 3 and relearn_pass == 0 else "good"
                    r = s.post("ana", f"/me/reviews/{quiz_id}/{item_id}", {"grade": grade})
                    shown_on_time &= r.status_code == 303
                    reviews += 1
                    expected[key] = _due_of(s, quiz_id, item_id, today)
                    relearned += grade == "again"
                due = _due_ids(s.client("ana").get("/me/reviews").text)
                if not due:
                    break
            shown_on_time &= not due
            rec.log(step, stage="clock", day=step + 1, due_today=len(due))
        rate = [s.post("ana", f"/phase/{number}/exam", {"exam_token": "x"}).status_code for _ in range(int(cfg["exam_limit_probe"]))]
    return {
        "intervals_all_good": good,
        "intervals_with_one_failure": fail,
        "ease_after_one_failure": fail_ease,
        "intervals_portal_variant": portal,
        "ease_portal_variant": portal_ease,
        "exam_intro_status": intro,
        "exam_items_wrong": n_wrong,
        "exam_resubmission_status": resubmit,
        "cards_due_on_exam_day": due_today,
        "failed_exam_item_due_next_day": due_today == 0 and first_day_due == min(n_wrong, cap),
        "cards_shown_on_scheduled_day": shown_on_time,
        "reviews_done": reviews,
        "agains_relearned_same_day": relearned,
        "deck_new_card_buttons": list(srs.preview(srs.Card(due=date(2026, 1, 1), ease=ease0)).values()),  # again hard good easy
        "exam_rate_limited_status": rate[-1],
        "exam_rate_limit_after": rate.index(429) if 429 in rate else -1,
        "queue_capped_at": len(srs.due_queue(crowd, date(2026, 1, 1), cap)),
    }


def _split_card(key: str) -> tuple[str, str]:
    """'phase-07-scalar-autograd-q-07-01' -> (quiz id, item id); item ids start with 'q-'."""
    quiz_id, _, item = key.rpartition("-q-")
    return quiz_id, "q-" + item


def _due_of(s: Site, quiz_id: str, item_id: str, today: date) -> date:
    page = s.client("ana").get("/me/reviews").text
    m = re.search(rf'<tr id="up-{re.escape(quiz_id)}-{re.escape(item_id)}"><td>[^<]*</td><td>([0-9-]+)</td>', page)
    return date.fromisoformat(m.group(1)) if m else today


# ---------------------------------------------------------------------- lab 05: dashboard
def dashboard(cfg: dict, rec: Recorder) -> dict:
    with site(cfg, session_ttl_s=400 * 86400) as s:
        s.enrol("root", "admin")
        s.enrol("tess", "teacher")
        names = [f"learner{i:02d}" for i in range(int(cfg["learners"]))]
        for n in names:
            s.enrol(n)
        s.post(names[0], "/phase/1/notes", {"chapter": s.portal.learning.phase(1)["chapters"][0]["id"], "body": "my note"})
        s.clock.days(20)
        for n in names[:-1]:  # everyone but the last learner comes back; the last one is idle 20 days
            s.client(n).get("/me")
        before = s.portal.accounts.queries
        page = s.client("tess").get("/admin")
        queries = s.portal.accounts.queries - before
        rows = re.findall(r'<tr class="(stale)?" id="row-([^"]+)">(.*?)</tr>', page.text, flags=re.S)
        cells = [len(re.findall(r'<li class="cell ', body)) for _, _, body in rows]
        rec.log(0, stage="dashboard", learners=len(rows), queries=queries)
        read = s.client("root").get(f"/admin/students/{names[0]}")
        seen_by_student = "root (admin)" in s.client(names[0]).get("/me").text
        return {
            "admin_status_for_learner": s.client(names[0]).get("/admin").status_code,
            "admin_status_for_anonymous": s.client("anon").get("/admin").status_code,
            "admin_status_for_teacher": page.status_code,
            "admin_status_for_admin": s.client("root").get("/admin").status_code,
            "dashboard_rows": len(rows),
            "strip_cells": min(cells) if cells else 0,
            "idle_learners": sum(1 for stale, _, _ in rows if stale),
            "dashboard_account_queries": queries,
            "teacher_write_rejected": s.post("tess", "/admin/invites", {"username": "eve"}).status_code == 403,
            "admin_write_allowed": s.post("root", "/admin/invites", {"username": "eve"}).status_code == 200,
            "note_read_status": read.status_code,
            "note_read_visible_to_student": seen_by_student,
        }
