"""The portal's routes as plain functions of (method, path, form, session cookie): transport-free, so
every authorisation rule is testable without sockets; `serve` puts them behind http.server.

Rules: an unknown user and a wrong password get byte-identical 401s; a user without a password is sent
to a set-password page with a signed 10-minute token; invites are single-use (a second redemption is
410); a learner asking for another learner's profile gets 404 (no hint that it exists); /admin is 401
for anonymous visitors, 403 for learners, read-only for teachers.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from engine.portal import security
from engine.portal.settings import Settings
from engine.portal.store import Store

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
SESSION_TTL_S = 8 * 3600
SET_PASSWORD_TTL_S = 600
PHASES = 42
BAD_LOGIN = json.dumps({"detail": "invalid username or password"})


@dataclass
class Response:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Portal:
    def __init__(self, settings: Settings, checkpoints: Path | None = None, clock: float | None = None) -> None:
        self.settings, self.store = settings, Store()
        self.checkpoints = checkpoints
        self.clock = clock  # fixed epoch seconds for tokens, or None for the wall clock
        self._dummy = security.hash_password(secrets.token_hex(8), settings.pepper)

    # ------------------------------------------------------------------ helpers
    def audit(self, event: str, username: str | None) -> None:
        self.store.run("INSERT INTO audit (event, username, at) VALUES (?, ?, ?)", event, username, _now())

    def add_user(self, username: str, role: str, password: str | None = None) -> None:
        if not USERNAME_RE.match(username):
            raise ValueError(f"bad username {username!r}: 2-31 characters, lower-case letters, digits, _")
        pw = security.hash_password(password, self.settings.pepper) if password else None
        self.store.run("INSERT INTO users (username, role, pw_hash) VALUES (?, ?, ?)", username, role, pw)
        self.audit("user.created", username)

    def whoami(self, cookie: str | None) -> tuple[str, str] | None:
        sid = cookie and security.unsign(self.settings.session_secret, "session", cookie, self.clock)
        row = sid and self.store.one("SELECT s.username, u.role FROM sessions s JOIN users u USING (username) "
                                     "WHERE s.sid = ? AND s.revoked = 0", sid)
        return (row[0], row[1]) if row else None

    # ------------------------------------------------------------------ routes
    def handle(self, method: str, path: str, form: dict | None = None, cookie: str | None = None) -> Response:
        form = form or {}
        if (method, path) == ("GET", "/health"):
            return Response(200, json.dumps({"status": "ok", "version": self.settings.version, "time": _now()}))
        if (method, path) == ("POST", "/login"):
            return self.login(form.get("username", ""), form.get("password"))
        if (method, path) == ("POST", "/set-password"):
            return self.set_password(form.get("token", ""), form.get("password", ""))
        if (method, path) == ("POST", "/invite/redeem"):
            return self.redeem(form.get("token", ""))
        user = self.whoami(cookie)
        if path.startswith("/admin"):
            if user is None:
                return Response(401, json.dumps({"detail": "login required"}))
            if user[1] == "learner":
                return Response(403, json.dumps({"detail": "forbidden"}))
            if method == "GET" and path == "/admin":
                return Response(200, json.dumps(self.dashboard()))
            if user[1] != "admin":  # teachers read, never write
                return Response(403, json.dumps({"detail": "read-only role"}))
            if (method, path) == ("POST", "/admin/invites"):
                return self.invite(user[0], form["username"], form.get("role", "learner"))
            return Response(404, "{}")
        if method == "GET" and path.startswith("/profile/"):
            if user is None:
                return Response(401, json.dumps({"detail": "login required"}))
            name = path.rsplit("/", 1)[1]
            if name != user[0] and user[1] == "learner":
                return Response(404, json.dumps({"detail": "not found"}))
            row = self.store.one("SELECT username, role FROM users WHERE username = ?", name)
            return Response(200, json.dumps({"username": row[0], "role": row[1]})) if row else Response(404, "{}")
        return Response(404, json.dumps({"detail": "not found"}))

    def login(self, username: str, password: str | None) -> Response:
        row = self.store.one("SELECT pw_hash FROM users WHERE username = ?", username)
        if row is not None and row[0] is None:
            token = security.sign(self.settings.session_secret, "set-password", username, SET_PASSWORD_TTL_S, self.clock)
            self.audit("login.first", username)
            return Response(303, "", {"Location": f"/set-password?token={token}"})
        # Unknown users still pay one hash, so timing does not tell them apart either.
        ok = security.verify_password(password or "", row[0] if row else self._dummy, self.settings.pepper)
        if row is None or not ok:
            self.audit("login.failed", None)
            return Response(401, BAD_LOGIN)
        sid = secrets.token_hex(16)
        self.store.run("INSERT INTO sessions (sid, username) VALUES (?, ?)", sid, username)
        self.store.run("UPDATE users SET last_activity = ? WHERE username = ?", _now(), username)
        self.audit("login.ok", username)
        cookie = security.sign(self.settings.session_secret, "session", sid, SESSION_TTL_S, self.clock)
        return Response(200, "{}", {"Set-Cookie": f"session={cookie}; HttpOnly; Secure; SameSite=Lax; Max-Age={SESSION_TTL_S}"})

    def set_password(self, token: str, password: str) -> Response:
        username = security.unsign(self.settings.session_secret, "set-password", token, self.clock)
        if username is None:
            return Response(400, json.dumps({"detail": "link invalid or expired"}))
        if len(password) < 12:
            return Response(422, json.dumps({"detail": "at least 12 characters"}))
        n = self.store.run("UPDATE users SET pw_hash = ? WHERE username = ? AND pw_hash IS NULL",
                           security.hash_password(password, self.settings.pepper), username)
        self.audit("password.set", username)
        return Response(200 if n else 409, "{}")

    def invite(self, admin: str, username: str, role: str) -> Response:
        token = secrets.token_urlsafe(32)
        tid = hashlib.sha256(token.encode()).hexdigest()  # only the hash is stored
        self.store.run("INSERT INTO invites (token_id, username, role) VALUES (?, ?, ?)", tid, username, role)
        self.audit("invite.created", admin)
        signed = security.sign(self.settings.session_secret, "invite", token, 24 * 3600, self.clock)
        return Response(201, json.dumps({"invite": signed}), {"Referrer-Policy": "no-referrer"})

    def redeem(self, signed: str) -> Response:
        token = security.unsign(self.settings.session_secret, "invite", signed, self.clock)
        if token is None:
            return Response(400, json.dumps({"detail": "invalid invite"}))
        tid = hashlib.sha256(token.encode()).hexdigest()
        with self.store.db:  # claim and create in one transaction: two redemptions cannot both win
            claimed = self.store.db.execute("UPDATE invites SET used_at = ? WHERE token_id = ? AND used_at IS NULL",
                                            (_now(), tid)).rowcount
        if not claimed:
            return Response(410, json.dumps({"detail": "invite already used"}))
        username, role = self.store.one("SELECT username, role FROM invites WHERE token_id = ?", tid)
        self.add_user(username, role)
        self.audit("invite.redeemed", username)
        return Response(201, json.dumps({"username": username}))

    # ------------------------------------------------------------------ progress and dashboard
    def progress_state(self, username: str, phase: int) -> str:
        """not_started / in_progress / done / attested; done without the checkpoint file is drift."""
        row = self.store.one("SELECT state FROM progress WHERE username = ? AND phase = ?", username, phase)
        state = row[0] if row else "not_started"
        if state != "done":
            return state
        has_file = self.checkpoints is not None and (self.checkpoints / username / f"phase-{phase:02d}.json").exists()
        return "attested" if has_file else "drift"

    def dashboard(self, idle_days: int = 14) -> list[dict]:
        """One row per learner, in a fixed number of queries however many learners there are."""
        s = self.store
        users = s.all("SELECT username, last_activity FROM users WHERE role = 'learner' ORDER BY last_activity DESC")
        prog = s.all("SELECT username, phase, state FROM progress")
        quiz = s.all("SELECT username, AVG(passed) FROM quiz_results WHERE kind = 'quiz' GROUP BY username")
        exam = s.all("SELECT username, AVG(score) FROM quiz_results WHERE kind = 'exam' GROUP BY username")
        deck = s.all("SELECT username, COUNT(*) FROM cards GROUP BY username")
        strips: dict[str, list[str]] = {u: ["not_started"] * PHASES for u, _ in users}
        for u, ph, st in prog:
            if u in strips and 0 <= ph < PHASES:
                strips[u][ph] = st
        qd, ed, dd = dict(quiz), dict(exam), dict(deck)
        now = self.clock or time.time()
        rows = []
        for u, last in users:
            age = (now - datetime.fromisoformat(last).timestamp()) / 86400 if last else float("inf")
            rows.append({"username": u, "last_activity": last, "idle": age >= idle_days, "strip": strips[u],
                         "quiz_pass_rate": qd.get(u), "exam_score": ed.get(u), "deck": dd.get(u, 0)})
        return rows
