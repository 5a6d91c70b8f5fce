"""The portal attacked on loopback: a real uvicorn server on 127.0.0.1 (ephemeral port) serving a
temporary workspace, driven with httpx and raw sockets the way an attacker would.

Each test is one attack that the portal this replaced fell to (take-over by username,
enumeration, a second cookie, malformed JSON, non-ASCII cookies, one idle client blocking the
server) or that the course asks to be refused (CSRF, fixation, peers, roles, body caps).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.apps.portal.accounts import Accounts
from engine.apps.portal.app import make_app
from engine.apps.portal.passwords import TUNED, Passwords
from engine.apps.portal.ratelimit import RateLimiter
from engine.apps.portal.server import background
from engine.apps.portal.settings import from_env
from workbench.content.loader import load_catalog
from workbench.portal.adapter import WorkspaceLearning

PASSWORD = "correct horse battery staple"
ENV = {"LYNX_PORTAL_ENV": "test", "LYNX_PORTAL_ARGON2": "fast", "LYNX_PORTAL_SESSION_SECRET": "t" * 40,
       "LYNX_PORTAL_PEPPER": "q" * 40}


@cache
def catalog() -> Any:
    return load_catalog()


class Site:
    def __init__(self, root: Path, **settings: Any) -> None:
        self.root = root
        learning = WorkspaceLearning(root, catalog())
        self.app = make_app(from_env(ENV, **settings), Accounts(root / "workbench.db"), learning, root / "portal" / "audit")
        self.portal = self.app.state.portal

    def client(self, url: str) -> Client:
        return Client(url)

    def invite(self, name: str, role: str = "learner", workspace: str | None = None) -> str:
        return self.portal.invite(name, role, workspace or f"learners/{name}", None)


class Client(httpx.Client):
    """A browser-like client: fetches the login page first, so it holds a CSRF cookie."""

    def __init__(self, url: str) -> None:
        super().__init__(base_url=url, timeout=20, follow_redirects=False)
        self.get("/login")

    @property
    def csrf(self) -> str:
        return self.cookies.get("csrf") or ""

    def send_form(self, path: str, data: dict[str, str] | None = None, csrf: bool = True, **kw: Any) -> httpx.Response:
        return self.post(path, data={**({"csrf_token": self.csrf} if csrf else {}), **(data or {})}, **kw)

    def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        return self.send_form("/login", {"username": name, "password": password})

    def redeem(self, token: str, password: str = PASSWORD) -> httpx.Response:
        return self.send_form(f"/invite/{token}", {"password": password, "confirm": password})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, str]]:
    s = Site(tmp_path_factory.mktemp("portal"), login_per_minute_user=1000, login_per_minute_ip=100_000)
    with background(s.app) as url:
        yield s, url


def enrol(site: tuple[Site, str], name: str, role: str = "learner") -> Client:
    s, url = site
    c = s.client(url)
    assert c.redeem(s.invite(name, role)).status_code == 303
    return c


def raw_request(url: str, payload: bytes, timeout: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


# ------------------------------------------------------------------ take-over and enumeration


def test_username_only_login_never_takes_over_an_account(site: tuple[Site, str]) -> None:
    s, url = site
    token = s.invite("bootadmin", "admin")  # the bootstrap admin: invited, not yet redeemed
    attacker = s.client(url)
    for form in ({"username": "bootadmin"}, {"username": "bootadmin", "password": ""}):
        r = attacker.send_form("/login", form)
        assert r.status_code == 401 and "session" not in r.cookies
    assert attacker.get("/admin").status_code == 401
    assert attacker.send_form("/admin/invites", {"username": "evil", "role": "admin"}).status_code == 401
    assert attacker.send_form("/set-password", {"username": "bootadmin", "password": "x" * 20}).status_code in (404, 405)
    owner = s.client(url)
    assert owner.redeem(token).status_code == 303  # the real admin's invite still works
    assert owner.get("/admin").status_code == 200
    assert attacker.login("bootadmin", "").status_code == 401


def test_unknown_user_and_wrong_password_are_indistinguishable(site: tuple[Site, str]) -> None:
    s, url = site
    enrol(site, "realuser")
    probe = s.client(url)
    calls = s.portal.passwords.verifications
    unknown = probe.login("nosuchuser", "some password 123")
    between = s.portal.passwords.verifications
    wrong = probe.login("realuser", "some password 123")
    after = s.portal.passwords.verifications
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.content == wrong.content
    drop = {"date", "content-length"}
    assert {k: v for k, v in unknown.headers.items() if k not in drop} == {k: v for k, v in wrong.headers.items() if k not in drop}
    assert (between - calls, after - between) == (1, 1)  # one Argon2 verify each: the same cost


# ------------------------------------------------------------------ CSRF on every state-changing route


def post_routes(app: Any) -> set[str]:
    return {r.path for r in app.routes if "POST" in getattr(r, "methods", set())}


def test_every_post_route_refuses_a_missing_or_wrong_csrf_token(site: tuple[Site, str]) -> None:
    s, url = site
    admin = enrol(site, "csrfadmin", "admin")
    learner = enrol(site, "csrflearner")
    token = s.invite("csrfnew")
    targets = {
        "/login": (s.client(url), {"username": "csrflearner", "password": PASSWORD}),
        "/logout": (learner, {}),
        "/invite/{token}": (s.client(url), {"password": PASSWORD, "confirm": PASSWORD}),
        "/phase/{number}/quiz": (learner, {"a_q-07-01": "2"}),
        "/phase/{number}/exam": (learner, {"exam_token": "x"}),
        "/phase/{number}/exam/start": (learner, {}),
        "/me/reviews/{quiz_id}/{item_id}": (learner, {"grade": "good"}),
        "/phase/{number}/notes": (learner, {"chapter": "00-motivation", "body": "hi"}),
        "/admin/invites": (admin, {"username": "csrfvictim"}),
    }
    assert post_routes(s.app) == set(targets), "a new POST route needs an entry (and a CSRF check)"
    paths = {"/invite/{token}": f"/invite/{token}", "/phase/{number}/quiz": "/phase/7/quiz",
             "/phase/{number}/exam": "/phase/7/exam", "/phase/{number}/exam/start": "/phase/7/exam/start",
             "/me/reviews/{quiz_id}/{item_id}": "/me/reviews/phase-07-scalar-autograd/q-07-01",
             "/phase/{number}/notes": "/phase/7/notes"}
    for route, (client, form) in targets.items():
        path = paths.get(route, route)
        missing = client.post(path, data=form)
        forged = client.post(path, data={**form, "csrf_token": "forged-value"})
        header_only = client.post(path, data=form, headers={"x-csrf-token": "forged-value"})
        assert (missing.status_code, forged.status_code, header_only.status_code) == (403, 403, 403), route
    # Nothing happened: the invite is unused, the victim has no invite, the learner is still logged in.
    assert s.portal.accounts.invite(s.portal.tokens.load("invite", token, 3600))[0] == "open"
    assert s.portal.accounts.invite("csrfvictim")[0] == "unknown"
    assert learner.get("/me").status_code == 200


def test_a_csrf_cookie_planted_before_login_is_useless_after(site: tuple[Site, str]) -> None:
    s, url = site
    enrol(site, "plantvictim")
    victim = s.client(url)
    planted = victim.csrf
    assert victim.login("plantvictim").status_code == 303
    assert victim.csrf != planted
    r = victim.post("/phase/7/notes", data={"csrf_token": planted, "chapter": "00-motivation", "body": "x"},
                    headers={"cookie": f"session={victim.cookies.get('session')}; csrf={planted}"})
    assert r.status_code == 403


# ------------------------------------------------------------------ sessions


def test_login_rotates_the_session_and_kills_the_fixed_one(site: tuple[Site, str]) -> None:
    s, url = site
    enrol(site, "fixattacker")
    enrol(site, "fixvictim")
    attacker = s.client(url)
    attacker.login("fixattacker")
    fixed = attacker.cookies.get("session")
    victim = s.client(url)
    r = victim.post("/login", data={"csrf_token": victim.csrf, "username": "fixvictim", "password": PASSWORD},
                    headers={"cookie": f"csrf={victim.csrf}; session={fixed}"})
    assert r.status_code == 303
    fresh = r.cookies.get("session")
    assert fresh and fresh != fixed
    with httpx.Client(base_url=url) as replay:
        assert replay.get("/me", headers={"cookie": f"session={fixed}"}).status_code == 401
        me = replay.get("/me", headers={"cookie": f"session={fresh}"})
        assert me.status_code == 200 and "fixvictim" in me.text


def test_logout_revokes_the_session_server_side(site: tuple[Site, str]) -> None:
    c = enrol(site, "leaver")
    cookie = c.cookies.get("session")
    assert c.send_form("/logout").status_code == 303
    with httpx.Client(base_url=site[1]) as replay:
        assert replay.get("/me", headers={"cookie": f"session={cookie}"}).status_code == 401


def test_session_cookie_flags(site: tuple[Site, str]) -> None:
    s, url = site
    c = s.client(url)
    r = c.redeem(s.invite("flags"))
    header = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("session="))
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header
    assert "Secure" not in header  # test environment over plain http; production adds it:
    assert from_env({**ENV, "LYNX_PORTAL_ENV": "production", "LYNX_PORTAL_ARGON2": "tuned"}).secure_cookies


# ------------------------------------------------------------------ malformed input


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "application/json"}, b'{"username": "a", ', 400),
        ({"content-type": "application/json"}, b"[1, 2]", 400),
        ({"content-type": "application/json"}, b'{"username": {"$ne": 1}}', 400),
        ({"content-type": "application/json"}, b"\xff\xfe", 400),
        ({"content-type": "text/plain"}, b"username=a", 415),
        ({"content-type": "application/x-www-form-urlencoded"}, b"a=" + b"x" * (70 * 1024), 413),
    ],
)
def test_malformed_and_oversized_bodies_get_a_clean_4xx(site: tuple[Site, str], headers: dict, body: bytes, status: int) -> None:
    s, url = site
    c = s.client(url)
    r = c.post("/login", content=body, headers={**headers, "x-csrf-token": c.csrf})
    assert r.status_code == status


def test_a_chunked_body_past_the_cap_is_refused(site: tuple[Site, str]) -> None:
    s, url = site
    c = s.client(url)

    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b"x" * 1024

    r = c.post("/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


def test_bad_content_length_gets_a_reply(site: tuple[Site, str]) -> None:
    reply = raw_request(site[1], b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 4")


@pytest.mark.parametrize(
    "cookie",
    [b"session=garbage", b"session=\xc3\xa9\xc3\xa9", b"session=a; session=b", b"csrf=\x00", b"=;;;=", b"session=" + b"x" * 8000],
)
def test_bad_cookies_get_a_clean_reply(site: tuple[Site, str], cookie: bytes) -> None:
    reply = raw_request(site[1], b"GET /me HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: " + cookie + b"\r\n\r\n")
    status = reply.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 4"), status


def test_duplicate_session_cookies_are_ambiguous_but_extra_cookies_are_fine(site: tuple[Site, str]) -> None:
    c = enrol(site, "cookiejar")
    sess, csrf = c.cookies.get("session"), c.csrf
    with httpx.Client(base_url=site[1]) as h:
        assert h.get("/me", headers={"cookie": f"theme=dark; session={sess}; _ga=GA1.2.3"}).status_code == 200
        assert h.get("/me", headers={"cookie": f"session={sess}; session=other"}).status_code == 401
        login = h.post("/login", data={"csrf_token": csrf, "username": "cookiejar", "password": PASSWORD},
                       headers={"cookie": f"csrf={csrf}; theme=dark; lang=en"})
        assert login.status_code == 303


# ------------------------------------------------------------------ availability


def test_idle_clients_block_nobody(site: tuple[Site, str]) -> None:
    s, url = site
    enrol(site, "busy")
    host, port = url.removeprefix("http://").split(":")
    idle = []
    for _ in range(20):  # slowloris: half a request line each, then silence
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        idle.append(sock)
    try:
        result: dict[str, int] = {}

        def login() -> None:
            result["status"] = s.client(url).login("busy").status_code

        t = threading.Thread(target=login)
        t.start()
        t.join(20)
        assert result.get("status") == 303
    finally:
        for sock in idle:
            sock.close()


# ------------------------------------------------------------------ authorisation


def test_peers_get_404_and_roles_are_enforced_on_the_server(site: tuple[Site, str]) -> None:
    s, url = site
    ana, bea = enrol(site, "peerana"), enrol(site, "peerbea")
    teacher = enrol(site, "peerteacher", "teacher")
    assert bea.get("/u/peerana").status_code == 404
    assert bea.get("/u/nobodyatall").status_code == 404
    assert ana.get("/u/peerana").status_code == 200
    assert teacher.get("/u/peerana").status_code == 200
    assert ana.get("/admin").status_code == 403
    assert ana.get("/admin/students/peerbea").status_code == 403
    assert s.client(url).get("/admin").status_code == 401
    assert teacher.get("/admin").status_code == 200
    assert teacher.send_form("/admin/invites", {"username": "byteacher"}).status_code == 403
    assert ana.get("/runs/../../etc/charts/passwd.png").status_code == 404


def test_invites_are_single_use(site: tuple[Site, str]) -> None:
    s, url = site
    token = s.invite("onceonly")
    assert s.client(url).redeem(token).status_code == 303
    assert s.client(url).redeem(token, "another long password").status_code == 410
    assert s.client(url).get(f"/invite/{token}").status_code == 410
    assert s.client(url).get("/invite/not-a-token").status_code == 400


# ------------------------------------------------------------------ rate limits (default limits)


def test_login_and_exam_submission_are_rate_limited(site: tuple[Site, str]) -> None:
    s, url = site
    s.portal.login_user = RateLimiter(10, 60.0)  # the default limits, fresh (the module's site raised them)
    c = enrol(site, "limited")
    blocks = [e["event"] for e in s.portal.audit.read()].count("ratelimit.block")
    attempts = [s.client(url).login("limited", "wrong password!!").status_code for _ in range(11)]
    assert attempts[:10] == [401] * 10 and attempts[10] == 429
    exams = [c.send_form("/phase/7/exam", {"exam_token": "x"}).status_code for _ in range(31)]
    assert exams[:30] == [400] * 30 and exams[30] == 429
    events = [e["event"] for e in s.portal.audit.read()]
    assert events.count("ratelimit.block") - blocks == 2


@pytest.mark.slow
def test_failed_logins_take_the_same_time_with_the_production_hash(tmp_path: Path) -> None:
    """Statistical, with the tuned Argon2id (~250 ms): interleaved failures for an unknown user and a
    wrong password, compared by median and a Mann-Whitney U test. Without the dummy hash the unknown
    user answers in about a millisecond and p is far below 1e-6; with it the two are indistinguishable."""
    import time

    from scipy.stats import mannwhitneyu

    s = Site(tmp_path, login_per_minute_user=10_000, login_per_minute_ip=10_000)
    s.portal.passwords = Passwords(s.portal.settings.pepper, TUNED)  # the production profile
    with background(s.app) as url:
        c = s.client(url)
        assert c.redeem(s.invite("timed")).status_code == 303
        probe = s.client(url)
        times: dict[str, list[float]] = {"unknown": [], "wrong": []}
        for i in range(40):
            kind, user = (("unknown", "nosuchuser"), ("wrong", "timed"))[i % 2]
            t0 = time.perf_counter()
            assert probe.login(user, "not the password").status_code == 401
            times[kind].append(time.perf_counter() - t0)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    assert 0.8 < med["unknown"] / med["wrong"] < 1.25, med
    assert mannwhitneyu(times["unknown"], times["wrong"]).pvalue > 0.001
