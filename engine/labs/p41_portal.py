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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from engine.apps import srs
from engine.apps.portal import drills, notes, passwords
from engine.apps.portal.accounts import AccountError, Accounts, check_username
from engine.apps.portal.app import make_app
from engine.apps.portal.harness import PEPPER, SECRET, Site, open_site
from engine.apps.portal.ports import load_backend
from engine.apps.portal.server import background
from engine.apps.portal.settings import DEFAULT_SECRET, SettingsError, from_env
from engine.core.run import Recorder


@contextmanager
def site(cfg: dict, **settings: Any) -> Iterator[Site]:
    """The lab's portal: the learning backend its YAML names."""
    with open_site(cfg["learning"], **settings) as s:
        yield s


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
        admin, token = drills.first_admin(s)
        expired = drills.expired_invite_status(s)
        uniform = drills.login_uniformity(s)
        audit = drills.audit_hygiene(s, token)
    runs = int(cfg["verify_runs"])
    tuned = passwords.measure_verify_ms(passwords.TUNED, runs)
    tuned_cpu = passwords.measure_verify_ms(passwords.TUNED, runs, cpu=True)
    previous_cpu = passwords.measure_verify_ms(passwords.PREVIOUS, runs, cpu=True)
    for i, ms in enumerate(tuned):
        rec.log(i, stage="verify", verify_ms=ms)
    return {
        **admin,
        "expired_invite_status": expired,
        **uniform,
        "pepper_required": drills.pepper_required(),
        **audit,
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
            "cli_quiz_cards_in_browser_reviews": owner_reviews.count('<tr id="up-') + len(drills.due_ids(owner_reviews)),
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
def review_loop(cfg: dict, rec: Recorder) -> dict:
    ease0, cap = float(cfg["initial_ease"]), int(cfg["daily_cap"])
    good, _ = drills.intervals([4] * 7, cfg["variant"], ease0)
    fail, fail_ease = drills.intervals([4, 4, 0, 4, 4, 4], cfg["variant"], ease0)
    portal, portal_ease = drills.intervals([4, 4, 0, 4, 4, 4], "portal", ease0)
    crowd = {f"c{i}": srs.Card(due=date(2026, 1, 1)) for i in range(cap + 15)}
    with site(cfg, session_ttl_s=400 * 86400) as s:  # the clock moves by days; sessions must outlive it
        number = int(cfg["exam_phase"])
        s.enrol("ana")
        exam = drills.failed_exam(s, "ana", number)
        days = drills.review_days(s, "ana", int(cfg["days"]))
        rate = [s.post("ana", f"/phase/{number}/exam", {"exam_token": "x"}).status_code
                for _ in range(int(cfg["exam_limit_probe"]))]
    for step, left in enumerate(days["left_per_day"]):
        rec.log(step, stage="clock", day=step + 1, due_today=left)
    return {
        "intervals_all_good": good,
        "intervals_with_one_failure": fail,
        "ease_after_one_failure": fail_ease,
        "intervals_portal_variant": portal,
        "ease_portal_variant": portal_ease,
        "exam_intro_status": exam["intro"],
        "exam_items_wrong": exam["n_wrong"],
        "exam_resubmission_status": exam["resubmit"],
        "cards_due_on_exam_day": exam["due_today"],
        "failed_exam_item_due_next_day": exam["due_today"] == 0 and days["first_day_due"] == min(exam["n_wrong"], cap),
        "cards_shown_on_scheduled_day": days["shown_on_time"],
        "reviews_done": days["reviews"],
        "agains_relearned_same_day": days["relearned"],
        "deck_new_card_buttons": list(srs.preview(srs.Card(due=date(2026, 1, 1), ease=ease0)).values()),  # again hard good easy
        "exam_rate_limited_status": rate[-1],
        "exam_rate_limit_after": rate.index(429) if 429 in rate else -1,
        "queue_capped_at": len(srs.due_queue(crowd, date(2026, 1, 1), cap)),
    }


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
