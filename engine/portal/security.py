"""Password hashing and signed tokens with hashlib and hmac only.

Passwords: scrypt (n=2**14, r=8, p=1: 16 MiB, about 50 ms here) over HMAC(pepper, password), so a
stolen database without the pepper is useless. The course asks for Argon2id; argon2-cffi is not
installed, and scrypt is the memory-hard KDF the standard library has.
Tokens: payload.expiry.signature, HMAC-SHA256 under the session secret and a purpose string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, pepper: str, salt: bytes | None = None, **params: int) -> str:
    p = {**SCRYPT, **params}
    salt = salt or os.urandom(16)
    keyed = hmac.new(pepper.encode(), password.encode(), hashlib.sha256).digest()
    dk = hashlib.scrypt(keyed, salt=salt, n=p["n"], r=p["r"], p=p["p"], maxmem=2**27, dklen=32)
    return f"scrypt${p['n']}${p['r']}${p['p']}${salt.hex()}${dk.hex()}"


def verify_password(password: str, stored: str, pepper: str) -> bool:
    _, n, r, p, salt, _dk = stored.split("$")
    again = hash_password(password, pepper, bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(again, stored)


def sign(secret: str, purpose: str, payload: str, ttl_s: float, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + ttl_s)
    body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=") + f".{expiry}"
    mac = hmac.new(secret.encode(), f"{purpose}|{body}".encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unsign(secret: str, purpose: str, token: str, now: float | None = None) -> str | None:
    """The payload, or None when the signature is wrong, the purpose differs or the token expired."""
    try:
        b64, expiry, mac = token.split(".")
    except ValueError:
        return None
    good = hmac.new(secret.encode(), f"{purpose}|{b64}.{expiry}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, mac) or (time.time() if now is None else now) > int(expiry):
        return None
    return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).decode()
