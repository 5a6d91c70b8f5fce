"""The portal's Argon2id profiles: OWASP's minimum (t=2, m=19 MiB, p=1) is a production choice, the
fast one is not, and each profile's hash carries its own parameters (argon2-cffi's encoded form)."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters

from engine.apps.portal.passwords import OWASP, PROFILES, TUNED, Passwords
from engine.apps.portal.settings import SettingsError, from_env

PROD = {"LYNX_PORTAL_ENV": "production", "LYNX_PORTAL_SESSION_SECRET": "k" * 40, "LYNX_PORTAL_PEPPER": "p" * 32}


def test_owasp_profile_is_allowed_in_production_and_fast_is_not() -> None:
    assert from_env({**PROD, "LYNX_PORTAL_ARGON2": "owasp"}).argon2 == "owasp"
    with pytest.raises(SettingsError, match="ARGON2"):
        from_env({**PROD, "LYNX_PORTAL_ARGON2": "fast"})
    with pytest.raises(SettingsError, match="ARGON2"):
        from_env({**PROD, "LYNX_PORTAL_ARGON2": "weak"})


def test_profiles_hash_with_their_stated_parameters() -> None:
    assert (OWASP.time_cost, OWASP.memory_kib, OWASP.parallelism) == (2, 19 * 1024, 1)
    assert PROFILES["owasp"] is OWASP and PROFILES["tuned"] is TUNED
    pw = Passwords("p" * 32, OWASP)
    h = pw.hash("correct horse")
    got = extract_parameters(h)
    assert (got.time_cost, got.memory_cost, got.parallelism, got.type.name) == (2, 19 * 1024, 1, "ID")
    assert pw.verify(h, "correct horse") and not pw.verify(h, "wrong horse")
