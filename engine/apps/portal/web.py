"""Request plumbing that must never crash a connection: cookie parsing, body parsing, CSRF.

* Cookies are parsed from the raw header(s) by hand: a value must be printable ASCII from a
  small alphabet, and a name given twice (a second `session=` or `csrf=`) makes that cookie
  ambiguous, so it is ignored rather than guessed at. Unrelated extra cookies are fine.
* Bodies: form-encoded or JSON; malformed JSON, a JSON value that is not an object of strings,
  or another content type is a clean 400/415, never a dropped connection.
* CSRF is double-submit: the `csrf` cookie must equal the form field `csrf_token` (or the
  `X-CSRF-Token` header), compared in constant time; once logged in, it must also equal the
  value bound to the server-side session, so a cookie planted before login is useless after.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from fastapi import HTTPException, Request

SESSION_COOKIE = "session"
CSRF_COOKIE = "csrf"
_VALUE = re.compile(r"^[A-Za-z0-9_.\-:=]{1,4096}$")


def cookies(request: Request) -> dict[str, str]:
    """Cookie name -> value, dropping malformed, non-ASCII and duplicated names."""
    seen: dict[str, list[str]] = {}
    for raw in request.headers.getlist("cookie"):
        for part in raw.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                seen.setdefault(name.strip(), []).append(value.strip().strip('"'))
    return {k: v[0] for k, v in seen.items() if len(v) == 1 and _VALUE.match(v[0]) and k.isascii()}


def duplicated(request: Request, name: str) -> bool:
    count = 0
    for raw in request.headers.getlist("cookie"):
        count += sum(1 for part in raw.split(";") if part.strip().partition("=")[0].strip() == name)
    return count > 1


async def form_data(request: Request) -> dict[str, str]:
    """The body as a flat mapping of strings (form fields or a JSON object)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        raw = await request.body()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise HTTPException(400, "malformed JSON body") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in data.items()):
            raise HTTPException(400, "the JSON body must be an object of strings")
        return {k: str(v) for k, v in data.items()}
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 - python-multipart raises several types on garbage
            raise HTTPException(400, "malformed form body") from None
        out: dict[str, str] = {}
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise HTTPException(400, f"field {key!r}: files are not accepted")
            out[key] = value if key not in out else out[key] + "," + value
        return out
    if not ctype and not (await request.body()):
        return {}
    raise HTTPException(415, f"content type {ctype or '(none)'} is not accepted: send a form or JSON")


def csrf_ok(request: Request, form: dict[str, Any], bound: str | None) -> bool:
    """Double-submit check; `bound` is the session's CSRF value once logged in."""
    cookie = cookies(request).get(CSRF_COOKIE)
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token") or ""
    if not cookie or not sent or duplicated(request, CSRF_COOKIE):
        return False
    if not hmac.compare_digest(cookie.encode(), str(sent).encode()):
        return False
    return bound is None or hmac.compare_digest(bound.encode(), cookie.encode())


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
