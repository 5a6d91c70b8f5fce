"""The learner portal as a FastAPI app: `make_app(settings, accounts, learning)`.

Server-rendered pages (Jinja2 templates, static CSS, one small vanilla-JS file for partial
updates). The app owns identity and security; everything about learning (catalog, runs, quiz
grading, the SM-2 deck, progress) goes through the `Learning` port, which the workbench
implements over its workspace.

Rules, each tested by the attack suite:
* no password-less login: accounts are created only by redeeming a one-time invite, which sets
  the password in the same transaction; a NULL password hash never logs in;
* unknown user and wrong password: the same status and bytes, and the same cost (one Argon2
  verify, against a dummy hash for the unknown user);
* a new session id on every login (the old one is revoked), HttpOnly + SameSite cookies (+ Secure
  outside dev), double-submit CSRF on every POST, rate limits on login and exam submission;
* another learner's profile is 404; /admin is 401 anonymous, 403 for a learner, read-only for
  a teacher; admin and teacher reads of a learner's notes are logged and shown to that learner.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from engine.apps import srs
from engine.apps.portal import notes as notes_md
from engine.apps.portal.accounts import ROLES, AccountError, Accounts, check_username
from engine.apps.portal.audit import AuditLog
from engine.apps.portal.gate import Busy, Gate
from engine.apps.portal.guard import Guard
from engine.apps.portal.passwords import PROFILES, Passwords
from engine.apps.portal.ports import Learning
from engine.apps.portal.ratelimit import RateLimiter
from engine.apps.portal.settings import PortalSettings, validate
from engine.apps.portal.tokens import Tokens
from engine.apps.portal.web import CSRF_COOKIE, SESSION_COOKIE, client_ip, cookies, csrf_ok, duplicated, form_data

HERE = Path(__file__).parent
N_PHASES = 42
BAD_LOGIN = "Unknown username or wrong password."
MIN_PASSWORD, MAX_PASSWORD = 12, 256
GRADE_KEYS = list(srs.BUTTONS.items())  # the deck's buttons, from the one SM-2 (engine/apps/srs.py)


class Portal:
    """State shared by the routes: settings, stores, hashers, limiters, the audit log, a clock."""

    def __init__(self, settings: PortalSettings, accounts: Accounts, learning: Learning, audit_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.accounts, self.learning = settings, accounts, learning
        self.passwords = Passwords(settings.pepper, PROFILES[settings.argon2])
        self.gate = Gate(settings.login_slots or None, None if settings.login_queue < 0 else settings.login_queue,
                         settings.login_wait_ms / 1000)
        self.tokens = Tokens(settings.session_secret, clock)
        self.audit = AuditLog(audit_dir)
        self.clock = clock
        self.login_user = RateLimiter(settings.login_per_minute_user, 60.0, clock)
        self.login_ip = RateLimiter(settings.login_per_minute_ip, 60.0, clock)
        self.exam_limit = RateLimiter(settings.exam_per_minute_session, 60.0, clock)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def today(self) -> date:
        return self.now().date()

    def invite(self, username: str, role: str, workspace: str, created_by: int | None) -> str:
        """A one-time invite; returns the signed token to put in the link (only its digest is stored)."""
        raw = secrets.token_urlsafe(32)
        self.accounts.create_invite(raw, username, role, workspace, created_by, self.settings.invite_ttl_s, self.now())
        self.audit.write("invite.created", role=role, by_user=created_by)
        return self.tokens.sign("invite", raw)


def make_app(settings: PortalSettings, accounts: Accounts, learning: Learning, audit_dir: Path,
             clock: Callable[[], float] = time.time) -> FastAPI:
    settings = validate(settings)  # refuses a default secret or short pepper outside dev, whoever built the settings
    portal = Portal(settings, accounts, learning, audit_dir, clock)
    app = FastAPI(title="Lynx learner portal", version=settings.version, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = portal
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # ------------------------------------------------------------------ helpers
    def who(request: Request) -> dict[str, Any] | None:
        if duplicated(request, SESSION_COOKIE):
            return None
        signed = cookies(request).get(SESSION_COOKIE)
        sid = signed and portal.tokens.load("session", signed, settings.session_ttl_s)
        if not isinstance(sid, str):
            return None
        sess = accounts.session(sid, portal.now())
        return {**sess, "sid": sid} if sess else None

    def csrf_value(request: Request) -> str:
        user = getattr(request.state, "user", None)
        if user:
            return user["csrf"]
        value = cookies(request).get(CSRF_COOKIE)
        if not value or duplicated(request, CSRF_COOKIE):
            value = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(24)
            request.state.new_csrf = value
        return value

    def set_cookie(resp: Response, name: str, value: str, http_only: bool, max_age: int) -> None:
        resp.set_cookie(name, value, max_age=max_age, httponly=http_only, samesite="lax" if name == SESSION_COOKIE else "strict",
                        secure=settings.secure_cookies, path="/")

    def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        token = csrf_value(request)
        resp = templates.TemplateResponse(request, template, {"user": getattr(request.state, "user", None), "csrf": token,
                                                              "n_phases": N_PHASES, **ctx}, status_code=status)
        if getattr(request.state, "new_csrf", None):
            set_cookie(resp, CSRF_COOKIE, token, http_only=False, max_age=settings.session_ttl_s)
        return resp

    def partial(request: Request) -> bool:
        return request.headers.get("x-requested-with") == "portal-fetch"

    async def posted(request: Request, pre_login: bool = False) -> dict[str, str]:
        """The body, once the double-submit CSRF check passed (bound to the session unless logging in)."""
        form = await form_data(request)
        user = None if pre_login else getattr(request.state, "user", None)
        if not csrf_ok(request, form, user["csrf"] if user else None):
            portal.audit.write("csrf.block", route=request.url.path.split("/")[1] or "root")
            raise HTTPException(403, "CSRF check failed: reload the page and try again")
        return form

    def need(request: Request, *roles: str) -> dict[str, Any]:
        user = getattr(request.state, "user", None)
        if user is None:
            raise HTTPException(401, "Please log in.")
        if roles and user["role"] not in roles:
            raise HTTPException(403, "Your role cannot open this page.")
        return user

    def start_session(request: Request, user: dict[str, Any], resp: Response) -> None:
        old = who(request)
        if old:  # rotation: the pre-login session, if any, dies
            accounts.end_session(old["sid"], portal.now())
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        accounts.start_session(sid, csrf, user["id"], settings.session_ttl_s, portal.now())
        set_cookie(resp, SESSION_COOKIE, portal.tokens.sign("session", sid), http_only=True, max_age=settings.session_ttl_s)
        set_cookie(resp, CSRF_COOKIE, csrf, http_only=False, max_age=settings.session_ttl_s)
        portal.audit.write("auth.session.start", user_id=user["id"], role=user["role"])

    def phase_or_404(number: int) -> dict[str, Any]:
        ph = learning.phase(number)
        if ph is None:
            raise HTTPException(404, f"No phase {number:02d}.")
        return ph

    @app.middleware("http")
    async def identify(request: Request, call_next: Callable) -> Response:
        request.state.user = await run_in_threadpool(who, request)
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return page(request, "message.html", status=exc.status_code, title=str(exc.status_code), message=str(exc.detail))

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> Response:
        portal.audit.write("auth.busy", retry_after_s=exc.retry_after_s)
        resp = page(request, "message.html", status=503, title="503",
                    message=f"Too many logins at once; try again in {exc.retry_after_s} s.")
        resp.headers["Retry-After"] = str(exc.retry_after_s)
        return resp

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        return page(request, "message.html", status=422, title="422", message="The request was not understood.")

    # ------------------------------------------------------------------ public
    @app.get("/healthz")
    @app.get("/health")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": settings.version, "ts": portal.now().isoformat(timespec="seconds")}

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    @app.get("/")
    async def root(request: Request) -> Response:
        return RedirectResponse("/me" if request.state.user else "/login", status_code=303)

    @app.get("/login")
    async def login_form(request: Request) -> Response:
        return page(request, "login.html")

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await posted(request, pre_login=True)
        username = form.get("username", "")[:64]
        password = form.get("password", "")[:MAX_PASSWORD]
        if not (portal.login_ip.allow(client_ip(request)) and portal.login_user.allow(username.lower())):
            portal.audit.write("ratelimit.block", scope="login")
            return page(request, "login.html", status=429, error="Too many attempts; wait a minute.")
        user = accounts.user(username=username) if username else None
        async with portal.gate.slot():  # bounded: beyond the queue, 503 + Retry-After (engine/apps/portal/gate.py)
            ok = await run_in_threadpool(portal.passwords.verify, user["pw_hash"] if user else None, password)
        portal.audit.write("auth.login.attempt", ok=ok, user_id=user["id"] if ok and user else None,
                           username_len=len(username))
        if not ok or user is None:
            return page(request, "login.html", status=401, error=BAD_LOGIN)
        if portal.passwords.needs_rehash(user["pw_hash"]):  # parameters changed since it was set: upgrade it now
            async with portal.gate.slot():
                rehashed = await run_in_threadpool(portal.passwords.hash, password)
            accounts.set_hash(user["id"], rehashed, portal.now())
        resp = RedirectResponse("/me", status_code=303)
        start_session(request, user, resp)
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await posted(request)
        user = request.state.user
        if user:
            accounts.end_session(user["sid"], portal.now())
            portal.audit.write("auth.logout", user_id=user["id"])
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        resp.delete_cookie(CSRF_COOKIE, path="/")
        return resp

    def _invite_state(token: str) -> tuple[str, dict[str, Any] | None]:
        verdict, raw = portal.tokens.check("invite", token, settings.invite_ttl_s)
        if verdict != "ok" or not isinstance(raw, str):
            return verdict if verdict == "expired" else "invalid", None
        state, row = accounts.invite(raw, portal.now())
        return state, {**row, "raw": raw} if row else None

    INVITE_STATUS = {"invalid": (400, "This invite link is not valid."), "unknown": (400, "This invite link is not valid."),
                     "used": (410, "This invite was already used."), "expired": (410, "This invite has expired.")}

    @app.get("/invite/{token}")
    async def invite_form(request: Request, token: str) -> Response:
        state, row = _invite_state(token)
        if state != "open" or row is None:
            status, msg = INVITE_STATUS[state]
            return page(request, "message.html", status=status, title=str(status), message=msg)
        return page(request, "invite.html", username=row["username"], role=row["role"], token=token)

    @app.post("/invite/{token}")
    async def invite_redeem(request: Request, token: str) -> Response:
        form = await posted(request, pre_login=True)
        state, row = _invite_state(token)
        if state != "open" or row is None:
            status, msg = INVITE_STATUS[state]
            portal.audit.write("invite.rejected", reason=state)
            return page(request, "message.html", status=status, title=str(status), message=msg)
        pw, again = form.get("password", ""), form.get("confirm", "")
        error = (f"Use {MIN_PASSWORD} to {MAX_PASSWORD} characters." if not MIN_PASSWORD <= len(pw) <= MAX_PASSWORD
                 else "The two passwords differ." if pw != again else None)
        if error:
            return page(request, "invite.html", status=422, username=row["username"], role=row["role"], token=token, error=error)
        async with portal.gate.slot():
            hashed = await run_in_threadpool(portal.passwords.hash, pw)
        user = accounts.redeem(row["raw"], hashed, portal.now())
        if user is None:
            return page(request, "message.html", status=410, title="410", message=INVITE_STATUS["used"][1])
        portal.audit.write("invite.redeemed", user_id=user["id"], role=user["role"])
        portal.audit.write("auth.first_password_set", user_id=user["id"])
        resp = RedirectResponse("/me", status_code=303)
        start_session(request, user, resp)
        return resp

    # ------------------------------------------------------------------ learner pages
    @app.get("/me")
    async def me(request: Request) -> Response:
        user = need(request)
        accounts.touch(user["id"], portal.now())
        strip = await run_in_threadpool(learning.strip, user["workspace"])
        summary = await run_in_threadpool(learning.summary, user["workspace"], portal.today())
        phases = {p["number"]: p for p in learning.phases()}
        return page(request, "me.html", strip=strip, summary=summary, phases=phases,
                    reads=accounts.note_reads(user["id"]), profile=user)

    @app.get("/u/{username}")
    async def profile(request: Request, username: str) -> Response:
        user = need(request)
        other = accounts.user(username=username)
        if other is None or (user["role"] == "learner" and other["id"] != user["id"]):
            raise HTTPException(404, "No such page.")
        strip = await run_in_threadpool(learning.strip, other["workspace"])
        return page(request, "profile.html", profile=other, strip=strip)

    @app.get("/phase/{number}")
    async def phase_page(request: Request, number: int) -> Response:
        user = need(request)
        ph = phase_or_404(number)
        runs = await run_in_threadpool(learning.lab_runs, user["workspace"], number)
        tried = await run_in_threadpool(learning.attempts, user["workspace"], number)
        chapters = [{**c, "html": notes_md.render(c["summary"])} for c in ph["chapters"]]
        return page(request, "phase.html", phase=ph, goal_html=notes_md.render(ph["goal"]), chapters=chapters, runs=runs,
                    attempts=tried)

    @app.get("/runs/{run_id}/charts/{name}")
    async def chart(request: Request, run_id: str, name: str) -> Response:
        user = need(request)
        path = await run_in_threadpool(learning.chart_file, user["workspace"], run_id, name)
        if path is None:
            raise HTTPException(404, "No such chart.")
        return FileResponse(path, media_type="image/png")

    def _quiz_or_404(number: int) -> dict[str, Any]:
        q = learning.quiz(number)
        if q is None:
            raise HTTPException(404, f"Phase {number:02d} has no quiz.")
        return q

    @app.get("/phase/{number}/quiz")
    async def quiz_form(request: Request, number: int) -> Response:
        need(request)
        return page(request, "quiz.html", phase=phase_or_404(number), quiz=_quiz_or_404(number), mode="quiz", exam=None)

    def _answers(form: dict[str, str], quiz: dict[str, Any]) -> dict[str, str]:
        out = {}
        for item in quiz["items"]:
            value = form.get(f"a_{item['id']}", "")
            if len(value.encode()) > settings.max_answer_bytes:
                raise HTTPException(422, f"answer to {item['id']} is longer than {settings.max_answer_bytes} bytes")
            if value.strip():
                out[item["id"]] = value
        return out

    async def _submit(request: Request, number: int, form: dict[str, str], mode: str, started: datetime) -> Response:
        user = request.state.user
        quiz = _quiz_or_404(number)
        answers = _answers(form, quiz)
        result = await run_in_threadpool(learning.submit, user["workspace"], number, answers, mode, started, portal.today())
        portal.audit.write(f"{mode}.submitted", user_id=user["id"], quiz=quiz["id"], n_items=result["total"],
                           n_correct=result["correct"], n_seeded=len(result["seeded"]))
        accounts.touch(user["id"], portal.now())
        tpl = "result_partial.html" if partial(request) else "result.html"
        return page(request, tpl, phase=phase_or_404(number), quiz=quiz, result=result, mode=mode)

    @app.post("/phase/{number}/quiz")
    async def quiz_submit(request: Request, number: int) -> Response:
        need(request)
        form = await posted(request)
        return await _submit(request, number, form, "quiz", portal.now())

    @app.get("/phase/{number}/exam")
    async def exam_intro(request: Request, number: int) -> Response:
        need(request)
        quiz = _quiz_or_404(number)
        minutes = settings.exam_minutes_per_item * len(quiz["items"])
        return page(request, "exam_start.html", phase=phase_or_404(number), quiz=quiz, minutes=minutes)

    @app.post("/phase/{number}/exam/start")
    async def exam_start(request: Request, number: int) -> Response:
        user = need(request)
        await posted(request)
        quiz = _quiz_or_404(number)
        jti = secrets.token_urlsafe(16)
        accounts.start_exam(jti, user["id"], quiz["id"], portal.now())
        limit_s = settings.exam_minutes_per_item * 60 * len(quiz["items"])
        token = portal.tokens.sign("exam", {"jti": jti, "uid": user["id"], "quiz": quiz["id"], "t0": portal.clock()})
        portal.audit.write("exam.started", user_id=user["id"], quiz=quiz["id"])
        return page(request, "quiz.html", phase=phase_or_404(number), quiz=quiz, mode="exam",
                    exam={"token": token, "minutes": limit_s // 60})

    @app.post("/phase/{number}/exam")
    async def exam_submit(request: Request, number: int) -> Response:
        user = need(request)
        if not portal.exam_limit.allow(user["sid"]):
            portal.audit.write("ratelimit.block", scope="exam")
            raise HTTPException(429, "Too many exam submissions; wait a minute.")
        form = await posted(request)
        quiz = _quiz_or_404(number)
        limit_s = settings.exam_minutes_per_item * 60 * len(quiz["items"])
        claim = portal.tokens.load("exam", form.get("exam_token", ""), limit_s)
        if not isinstance(claim, dict) or claim.get("uid") != user["id"] or claim.get("quiz") != quiz["id"]:
            raise HTTPException(400, "This exam sheet is not valid or its time ran out.")
        if not accounts.finish_exam(str(claim.get("jti")), user["id"], portal.now()):
            raise HTTPException(409, "This exam was already submitted; start a new one.")
        started = datetime.fromtimestamp(float(claim["t0"]), UTC)
        return await _submit(request, number, form, "exam", started)

    @app.get("/me/reviews")
    async def reviews(request: Request) -> Response:
        user = need(request)
        deck = await run_in_threadpool(learning.reviews, user["workspace"], portal.today())
        return page(request, "reviews.html", deck=deck, grades=GRADE_KEYS)

    @app.post("/me/reviews/{quiz_id}/{item_id}")
    async def review_grade(request: Request, quiz_id: str, item_id: str) -> Response:
        user = need(request)
        form = await posted(request)
        grade = dict(GRADE_KEYS).get(form.get("grade", ""))
        if grade is None:
            raise HTTPException(422, "grade must be again, hard, good or easy")
        try:
            out = await run_in_threadpool(learning.grade_review, user["workspace"], quiz_id, item_id, grade, portal.today())
        except KeyError:
            raise HTTPException(404, "No such card.") from None
        portal.audit.write("review.graded", user_id=user["id"], grade=grade, interval=out["interval"])
        if partial(request):
            return page(request, "review_done.html", out=out, quiz_id=quiz_id, item_id=item_id)
        return RedirectResponse("/me/reviews", status_code=303)

    @app.get("/phase/{number}/notes")
    async def notes_page(request: Request, number: int) -> Response:
        user = need(request)
        ph = phase_or_404(number)
        mine = {n["anchor"]: {**n, "html": notes_md.render(n["body"])} for n in accounts.notes(user["id"], f"phase-{number:02d}::")}
        return page(request, "notes.html", phase=ph, notes=mine, limits=notes_md)

    @app.post("/phase/{number}/notes")
    async def notes_save(request: Request, number: int) -> Response:
        user = need(request)
        form = await posted(request)
        ph = phase_or_404(number)
        chapter = form.get("chapter", "")
        if chapter not in {c["id"] for c in ph["chapters"]}:
            raise HTTPException(422, "unknown chapter")
        anchor, body, tags = f"phase-{number:02d}::{chapter}", form.get("body", ""), notes_md.parse_tags(form.get("tags", ""))
        try:
            notes_md.validate(anchor, body, tags)
        except notes_md.NoteError as exc:
            raise HTTPException(422, str(exc)) from None
        accounts.save_note(user["id"], anchor, body, tags, portal.now())
        portal.audit.write("note.saved", user_id=user["id"], anchor=anchor, length=len(body), n_tags=len(tags))
        return RedirectResponse(f"/phase/{number}/notes#{chapter}", status_code=303)

    # ------------------------------------------------------------------ teacher / admin
    @app.get("/admin")
    @app.get("/admin/students")
    async def admin(request: Request) -> Response:
        user = need(request, "teacher", "admin")
        today = portal.today()
        rows = []
        for u in accounts.users():
            if u["role"] != "learner":
                continue
            summary = await run_in_threadpool(learning.summary, u["workspace"], today)
            strip = await run_in_threadpool(learning.strip, u["workspace"])
            last = u["last_active"]
            stale = last is None or (portal.now() - datetime.fromisoformat(last)).days >= 14
            rows.append({**u, "summary": summary, "strip": strip, "stale": stale})
        return page(request, "admin.html", rows=rows, roles=ROLES, can_write=user["role"] == "admin",
                    invite=None)

    @app.post("/admin/invites")
    async def admin_invite(request: Request) -> Response:
        user = need(request, "teacher", "admin")
        form = await posted(request)
        if user["role"] != "admin":
            raise HTTPException(403, "Teachers can read the dashboard but not change anything.")
        username, role = form.get("username", ""), form.get("role", "learner")
        try:
            check_username(username)
            if role not in ROLES:
                raise AccountError(f"role {role!r}")
            token = portal.invite(username, role, f"learners/{username}", user["id"])
        except AccountError as exc:
            raise HTTPException(422, str(exc)) from None
        link = f"{request.base_url}invite/{token}"
        return page(request, "invite_created.html", username=username, role=role, link=link)

    @app.get("/admin/students/{username}")
    async def student(request: Request, username: str) -> Response:
        user = need(request, "teacher", "admin")
        other = accounts.user(username=username)
        if other is None or other["role"] != "learner":
            raise HTTPException(404, "No such learner.")
        today = portal.today()
        summary = await run_in_threadpool(learning.summary, other["workspace"], today)
        strip = await run_in_threadpool(learning.strip, other["workspace"])
        their_notes = [{**n, "html": notes_md.render(n["body"])} for n in accounts.notes(other["id"])]
        accounts.log_note_read(other["id"], user["username"], user["role"], portal.now())
        portal.audit.write("admin.read_notes", reader_id=user["id"], owner_id=other["id"], n_notes=len(their_notes))
        return page(request, "student.html", profile=other, summary=summary, strip=strip, notes=their_notes)

    app.add_middleware(Guard, max_body=settings.max_body_bytes)  # outermost: caps bodies before anything reads them
    return app
