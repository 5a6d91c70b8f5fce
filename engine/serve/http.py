"""A minimal asyncio HTTP/1.1 server for TutorApp, bound to 127.0.0.1, one request per connection.

Three handler styles for POST /correct (the phase's lab-01):
  "sync"      a plain def handler: the server runs it in a worker pool (what FastAPI does with def)
  "blocking"  an async handler that calls the model directly: the event loop stalls for everyone
  "to_thread" an async handler that awaits asyncio.to_thread(model call)
Both thread styles get a pool of `threads` workers (FastAPI's pool is 40; asyncio's default executor
would be min(32, cores + 4), only 6 on this box).
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engine.serve.app import TutorApp

REASONS = {200: "OK", 404: "Not Found", 422: "Unprocessable Entity", 500: "Internal Server Error",
           503: "Service Unavailable"}
HOST = "127.0.0.1"


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return method, path, body


def _encode(status: int, payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload).encode()
    extra = "Retry-After: 1\r\n" if status == 503 else ""
    return (f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode() + body


class Server:
    """Runs the app on its own event loop in a background thread; `with Server(app) as srv: srv.port`."""

    def __init__(self, app: TutorApp, style: str = "to_thread", threads: int = 40) -> None:
        if style not in ("sync", "blocking", "to_thread"):
            raise ValueError(f"unknown handler style {style!r}")
        self.app, self.style, self.threads = app, style, threads
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, body = await _read_request(reader)
            name = self.app.route(method, path)
            if name is None:
                status, payload = 404, {"detail": "not found"}
            elif name != "correct":
                status, payload = getattr(self.app, name)()
            elif self.style == "blocking":
                status, payload = self.app.correct(body)
            elif self.style == "to_thread":
                status, payload = await asyncio.to_thread(self.app.correct, body)
            else:
                status, payload = await asyncio.get_running_loop().run_in_executor(self._pool, self.app.correct, body)
            writer.write(_encode(status, payload))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._pool = ThreadPoolExecutor(self.threads)
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(self.threads))
        server = await asyncio.start_server(self._handle, HOST, 0, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        self._pool.shutdown(wait=False)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        self._thread.join(10)
