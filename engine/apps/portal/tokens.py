"""Signed, time-limited tokens with itsdangerous, one salt per purpose.

A token signed for "invite" never verifies as "session" or "exam". The clock is injectable so
labs and tests can move time forward without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer


class Tokens:
    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        tokens = self

        class _ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(tokens.clock())

        self._secret = secret
        self._signer = _ClockSigner

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt=f"lynx-portal/{purpose}", signer=self._signer)

    def sign(self, purpose: str, payload: Any) -> str:
        return self._serializer(purpose).dumps(payload)

    def load(self, purpose: str, token: str, max_age_s: float) -> Any | None:
        """The payload, or None when forged, for another purpose, expired or garbage."""
        return self.check(purpose, token, max_age_s)[1]

    def check(self, purpose: str, token: str, max_age_s: float) -> tuple[str, Any | None]:
        """('ok', payload), ('expired', None) for a genuine but old token, or ('invalid', None)."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            return "invalid", None
        try:
            return "ok", self._serializer(purpose).loads(token, max_age=max_age_s)
        except SignatureExpired:
            return "expired", None
        except (BadData, UnicodeError, ValueError, TypeError):
            return "invalid", None
