"""Portal settings from LYNX_PORTAL_* environment variables, validated before the app exists.

Outside `dev` and `test` the portal refuses to start with the built-in session secret, a secret
shorter than 32 characters, a pepper shorter than 32 bytes, or the fast Argon2 profile: a
deployment cannot forget any of them. `dev` fills in a placeholder secret and pepper so a laptop
run needs no setup; `test` additionally allows the fast Argon2 profile so the suite stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

DEFAULT_SECRET = "change-me-dev-only"
DEV_PEPPER = "dev-pepper-not-for-production-use-0000"
ENVIRONMENTS = ("dev", "test", "production")
MIN_SECRET = 32
MIN_PEPPER = 32


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class PortalSettings:
    environment: str = "dev"
    session_secret: str = DEFAULT_SECRET
    pepper: str = ""
    argon2: str = "owasp"  # owasp (default: t=2 m=19 MiB) | tuned (t=3 m=128 MiB, >= 4 cores) | fast (dev/test only)
    host: str = "127.0.0.1"
    port: int = 8001
    version: str = "0.2.0"
    session_ttl_s: int = 8 * 3600
    invite_ttl_s: int = 7 * 24 * 3600
    max_body_bytes: int = 64 * 1024
    max_answer_bytes: int = 1024
    login_per_minute_user: int = 10  # attempts per username per minute
    login_per_minute_ip: int = 60  # attempts per client address per minute
    exam_per_minute_session: int = 30
    login_slots: int = 0  # concurrent Argon2 hashes (0: the CPU count); see engine/apps/portal/gate.py
    login_queue: int = -1  # logins allowed to wait for a slot (-1: twice the slots); beyond: 503
    login_wait_ms: int = 2000  # the longest a login waits for a slot before 503 + Retry-After
    exam_minutes_per_item: int = 3  # exam time limit = items x this

    @property
    def dev_like(self) -> bool:
        return self.environment in ("dev", "test")

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies outside dev/test: the deployed portal sits behind TLS (lab 06)."""
        return not self.dev_like


def validate(s: PortalSettings) -> PortalSettings:
    """The settings, with dev placeholders filled in; SettingsError names the first bad field."""
    if s.environment not in ENVIRONMENTS:
        raise SettingsError(f"LYNX_PORTAL_ENV={s.environment!r}: use one of {', '.join(ENVIRONMENTS)}")
    if s.argon2 not in ("tuned", "owasp", "fast"):
        raise SettingsError(f"LYNX_PORTAL_ARGON2={s.argon2!r}: use tuned, owasp or fast")
    if s.dev_like:
        return replace(s, pepper=s.pepper or DEV_PEPPER)
    if s.session_secret == DEFAULT_SECRET:
        raise SettingsError("LYNX_PORTAL_SESSION_SECRET: the built-in secret is only allowed when LYNX_PORTAL_ENV=dev or test")
    if len(s.session_secret) < MIN_SECRET:
        raise SettingsError(f"LYNX_PORTAL_SESSION_SECRET: at least {MIN_SECRET} characters outside dev")
    if len(s.pepper.encode()) < MIN_PEPPER:
        raise SettingsError(f"LYNX_PORTAL_PEPPER: at least {MIN_PEPPER} bytes outside dev (it is {len(s.pepper.encode())})")
    if s.argon2 == "fast":
        raise SettingsError("LYNX_PORTAL_ARGON2=fast is for dev and test only")
    return s


def from_env(env: Mapping[str, str], **overrides: object) -> PortalSettings:
    """Read LYNX_PORTAL_<FIELD> (LYNX_PORTAL_ENV for the environment), apply overrides, validate."""
    values: dict[str, object] = {}
    for f in fields(PortalSettings):
        key = "LYNX_PORTAL_ENV" if f.name == "environment" else f"LYNX_PORTAL_{f.name.upper()}"
        if key in env:
            raw = env[key]
            if f.type in ("int", int):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise SettingsError(f"{key}={raw!r}: expected an integer") from None
            else:
                values[f.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return validate(PortalSettings(**values))  # type: ignore[arg-type]
