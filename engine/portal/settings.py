"""Portal settings from LYNX_PORTAL_* environment variables. The built-in session secret is a
placeholder: outside a development environment it is refused, so a deployment cannot forget it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_SECRET = "change-me-dev-only"


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///:memory:"
    session_secret: str = DEFAULT_SECRET
    pepper: str = ""
    static_dir: str = "static"
    templates_dir: str = "templates"
    environment: str = "development"
    version: str = "0.1.0"


def from_env(env: Mapping[str, str]) -> Settings:
    def get(key: str, default: str) -> str:
        return env.get(f"LYNX_PORTAL_{key.upper()}", default)

    s = Settings(**{k: get(k, v) for k, v in Settings().__dict__.items()})
    if s.session_secret == DEFAULT_SECRET and s.environment != "development":
        raise SettingsError("the default session secret is only allowed when LYNX_PORTAL_ENVIRONMENT=development")
    if s.environment != "development" and len(s.session_secret) < 32:
        raise SettingsError("the session secret must be at least 32 characters")
    return s
