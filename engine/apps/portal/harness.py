"""An in-process portal on a temporary workspace, driven through its ASGI interface with a hand-moved clock.

Phase 41's labs attack and exercise the real portal (invites, logins, exams, the SM-2 deck) without a
server or a real clock: `open_site` builds the app on a temp dir with test settings, `Site` keeps one
TestClient per actor (each with its own CSRF cookie), and `Clock` is the portal's time source, moved
by the caller. The drills in `engine.apps.portal.drills` and the labs use it; so can tests.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from engine.apps.portal.accounts import Accounts
from engine.apps.portal.app import make_app
from engine.apps.portal.ports import load_backend
from engine.apps.portal.settings import from_env

with warnings.catch_warnings():  # Starlette 1.x prefers the httpx2 fork; httpx is what is installed and works
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

SECRET = "s" * 40
PEPPER = "p" * 40
PASSWORD = "correct horse battery staple"
T0 = 1_800_000_000.0  # 2027-01-15 UTC: a fixed clock the labs move by hand


@dataclass
class Clock:
    """The portal's time source: a fixed start the caller moves by hand (`t += s`, `days(n)`)."""

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
        return c.post(path, data={"csrf_token": c.cookies.get("csrf") or "", **(data or {})}, follow_redirects=False,
                      **kw)

    def enrol(self, who: str, role: str = "learner", workspace: str | None = None) -> httpx.Response:
        token = self.portal.invite(who, role, workspace or f"learners/{who}", None)
        return self.post(who, f"/invite/{token}", {"password": PASSWORD, "confirm": PASSWORD})

    def login(self, who: str, password: str = PASSWORD, client: str | None = None) -> httpx.Response:
        return self.post(client or who, "/login", {"username": who, "password": password})


@contextmanager
def open_site(learning_spec: str, **settings: Any) -> Iterator[Site]:
    """A portal on a fresh temp workspace; `learning_spec` names the learning backend (see ports)."""
    with tempfile.TemporaryDirectory(prefix="portal-lab-") as tmp:
        root = Path(tmp)
        clock = Clock()
        env = {"LYNX_PORTAL_ENV": "test", "LYNX_PORTAL_ARGON2": "fast", "LYNX_PORTAL_SESSION_SECRET": SECRET,
               "LYNX_PORTAL_PEPPER": PEPPER}
        # first: the workspace store opens the file before the portal's tables
        learning = load_backend(learning_spec, root)
        app = make_app(from_env(env, **settings), Accounts(root / "workbench.db"), learning, root / "portal" / "audit",
                       clock=clock)
        s = Site(root, app, clock)
        try:
            yield s
        finally:
            for c in s.clients.values():
                c.close()
