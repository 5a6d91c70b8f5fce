"""Scripted attacks and sessions against an in-process portal: what phase 41's labs measure.

Each drill drives a `harness.Site` through a fixed sequence of HTTP requests and returns the facts a
lab checks (status codes, counts, flags). The order of requests matters: the login rate limiter
and the moved clock carry state from one request to the next, so each drill is one function that
keeps its sequence, and a lab calls them in the order it documents.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from engine.apps import srs
from engine.apps.portal import passwords
from engine.apps.portal.audit import AuditError
from engine.apps.portal.harness import PASSWORD, PEPPER, Site

DEFAULT_PASSWORDS = ["", "admin", "password", "changeme", "lynx", "123456"]


def first_admin(s: Site) -> tuple[dict[str, Any], str]:
    """Guess default admin passwords, then redeem the admin invite under attack (passwordless login,
    forged and short-password redemptions, session fixation, a second redemption), guess again.
    Returns the facts and the invite token (the audit drill looks for it in the logs)."""
    before = [s.login("admin", d, client="attacker").status_code for d in DEFAULT_PASSWORDS]
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
    after = [s.login("admin", d, client="attacker").status_code for d in DEFAULT_PASSWORDS]
    tries = [*before, passwordless, *after]  # every login attempt on "admin", in order
    return {
        "default_password_exists": any(code == 303 for code in tries),
        "login_attempts_before_rate_limit": tries.index(429) if 429 in tries else -1,
        "passwordless_login_status": passwordless,
        "forged_invite_status": forged,
        "short_password_status": short,
        "first_invite_redemption_status": first.status_code,
        "second_invite_redemption_status": second,
        "admin_reaches_dashboard": admin_page,
        "session_rotated_on_login": rotated,
    }, token


def expired_invite_status(s: Site) -> int:
    """An invite opened eight days after it was issued (after the rate-limit window has passed)."""
    s.clock.t += 61  # the per-username window passes
    late = s.portal.invite("late", "learner", "learners/late", None)
    s.clock.days(8)
    return s.client("late").get(f"/invite/{late}").status_code


def login_uniformity(s: Site) -> dict[str, Any]:
    """An unknown user and a wrong password must look the same and cost the same Argon2 verify."""
    calls0 = s.portal.passwords.verifications
    unknown = s.login("nobody", "whatever-password", client="probe")
    calls1 = s.portal.passwords.verifications
    wrong = s.login("admin", "wrong password!!", client="probe")
    calls2 = s.portal.passwords.verifications
    login = s.login("admin")
    return {
        "unknown_user_and_wrong_password_identical":
            (unknown.status_code, unknown.content) == (wrong.status_code, wrong.content),
        "login_failure_status": wrong.status_code,
        "argon2_verifies_unknown_user": calls1 - calls0,
        "argon2_verifies_wrong_password": calls2 - calls1,
        "login_after_redeem_status": login.status_code,
    }


def audit_hygiene(s: Site, token: str) -> dict[str, Any]:
    """The audit log's events, whether a password, invite token or session cookie leaked into it,
    and whether it refuses a PII field."""
    events = s.portal.audit.read()
    audit_text = "\n".join(p.read_text() for p in (s.root / "portal" / "audit").glob("*.log"))
    leaks = (PASSWORD, token, s.client("admin").cookies.get("session") or "?")
    try:
        s.portal.audit.write("auth.login.attempt", password="hunter2")
        pii_refused = False
    except AuditError:
        pii_refused = True
    return {"audit_events": len(events), "audit_event_kinds": sorted({e["event"] for e in events}),
            "secrets_in_audit_log": sum(audit_text.count(x) for x in leaks), "pii_field_refused": pii_refused}


def pepper_required() -> bool:
    """A hash made with one pepper verifies with it and not with another."""
    keyed = passwords.Passwords(PEPPER, passwords.FAST)
    stored = keyed.hash(PASSWORD)
    return not passwords.Passwords("o" * 40, passwords.FAST).verify(stored, PASSWORD) and keyed.verify(stored, PASSWORD)


def intervals(grades: list[int], variant: str, ease: float) -> tuple[list[int], float]:
    """The intervals one card is given by a sequence of grades, each review on its due day, and its final ease."""
    card, day, out = srs.Card(due=date(2026, 1, 1), ease=ease), date(2026, 1, 1), []
    for g in grades:
        card = srs.review(card, g, day, variant)
        out.append(card.interval)
        day = card.due
    return out, card.ease


def due_ids(page: str) -> list[str]:
    """The card keys on a /me/reviews page, in the order shown."""
    return re.findall(r'<article class="review" id="card-([^"]+)"', page)


def split_card(key: str) -> tuple[str, str]:
    """'phase-07-scalar-autograd-q-07-01' -> (quiz id, item id); item ids start with 'q-'."""
    quiz_id, _, item = key.rpartition("-q-")
    return quiz_id, "q-" + item


def due_of(s: Site, who: str, quiz_id: str, item_id: str, today: date) -> date:
    """The due date the upcoming table shows for one card (today when it is not listed)."""
    page = s.client(who).get("/me/reviews").text
    m = re.search(rf'<tr id="up-{re.escape(quiz_id)}-{re.escape(item_id)}"><td>[^<]*</td><td>([0-9-]+)</td>', page)
    return date.fromisoformat(m.group(1)) if m else today


def failed_exam(s: Site, who: str, number: int) -> dict[str, Any]:
    """Open phase `number`'s exam, submit it blank (every item wrong), try to resubmit, count cards due today."""
    intro = s.client(who).get(f"/phase/{number}/exam").status_code
    sheet = s.post(who, f"/phase/{number}/exam/start").text
    m = re.search(r'name="exam_token" value="([^"]+)"', sheet)
    if m is None:
        raise RuntimeError(f"the exam sheet of phase {number} carries no exam token")
    token = m.group(1)
    exam = s.post(who, f"/phase/{number}/exam", {"exam_token": token})  # every answer blank: all wrong
    n = re.search(r"<strong>0 of (\d+) correct</strong>", exam.text)
    if n is None:
        raise RuntimeError(f"the exam result page of phase {number} shows no score")
    resubmit = s.post(who, f"/phase/{number}/exam", {"exam_token": token}).status_code
    due_today = len(due_ids(s.client(who).get("/me/reviews").text))
    return {"intro": intro, "n_wrong": int(n.group(1)), "resubmit": resubmit, "due_today": due_today}


def review_days(s: Site, who: str, days: int) -> dict[str, Any]:
    """Move the clock a day at a time and grade every due card Good (every 4th Again, relearned the same
    day); each card must be due exactly on the day engine.apps.srs scheduled it. Returns the counts
    and the number still due at the end of each day."""
    expected: dict[str, date] = {}
    start = date.fromtimestamp(s.clock())
    shown_on_time, reviews, first_day_due, relearned = True, 0, None, 0
    left_per_day = []
    for step in range(days):
        s.clock.days(1)
        today = start + timedelta(days=step + 1)
        due = due_ids(s.client(who).get("/me/reviews").text)
        if first_day_due is None:
            first_day_due = len(due)
        shown_on_time &= all(expected.get(k, today) == today for k in due)
        shown_on_time &= all(d > today or k in due for k, d in expected.items())
        for relearn_pass in range(3):  # an Again is due again today (relearning): it comes back until passed
            for key in due:
                quiz_id, item_id = split_card(key)
                grade = "again" if reviews % 4 == 3 and relearn_pass == 0 else "good"
                r = s.post(who, f"/me/reviews/{quiz_id}/{item_id}", {"grade": grade})
                shown_on_time &= r.status_code == 303
                reviews += 1
                expected[key] = due_of(s, who, quiz_id, item_id, today)
                relearned += grade == "again"
            due = due_ids(s.client(who).get("/me/reviews").text)
            if not due:
                break
        shown_on_time &= not due
        left_per_day.append(len(due))
    return {"shown_on_time": shown_on_time, "reviews": reviews, "first_day_due": first_day_due,
            "relearned": relearned, "left_per_day": left_per_day}
