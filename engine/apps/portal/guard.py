"""An ASGI middleware in front of the app: body caps and security headers.

A request whose Content-Length exceeds the cap, or whose streamed body grows past it, gets a
413 before any route sees it. Every response carries a strict Content-Security-Policy (no inline
script, so an injected tag cannot run), nosniff, no framing and no referrer.
"""

from __future__ import annotations

from typing import Any

HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class TooLarge(BaseException):  # noqa: N818 - not an Exception, so no error middleware turns it into a 500
    pass


class Guard:
    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def _reply(self, send: Any, status: int, text: str) -> None:
        body = text.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"), *HEADERS]})
        await send({"type": "http.response.body", "body": body})

    async def _drain(self, receive: Any, declared: int) -> None:
        """Read (and drop) a refused body up to a bounded amount before replying: closing a socket with
        unread bytes makes the kernel send a reset, so the client would see no 413 at all."""
        budget = min(declared, 8 * self.max_body)
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                return
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await self._reply(send, 400, "bad Content-Length\n")
            if declared > self.max_body:
                await self._drain(receive, declared)
                return await self._reply(send, 413, f"body larger than {self.max_body} bytes\n")
        seen = 0
        started = False

        async def capped_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise TooLarge
            return message

        async def secured_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        try:
            await self.app(scope, capped_receive, secured_send)
        except (TooLarge, BaseExceptionGroup) as exc:
            if isinstance(exc, BaseExceptionGroup) and not exc.subgroup(TooLarge):
                raise
            if not started:
                await self._reply(send, 413, f"body larger than {self.max_body} bytes\n")
