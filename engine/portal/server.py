"""Serve a Portal over HTTP on 127.0.0.1 with http.server, for a bounded number of requests
(labs and tests must never leave a listener behind)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl

from engine.portal.app import Portal

MAX_BODY = 64 * 1024


def serve(portal: Portal, max_requests: int) -> tuple[HTTPServer, threading.Thread]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            raw = self.rfile.read(n).decode() if n else ""
            form = json.loads(raw) if raw.startswith("{") else dict(parse_qsl(raw))
            cookie = (self.headers.get("Cookie") or "").removeprefix("session=") or None
            r = portal.handle(method, self.path, form, cookie)
            body = r.body.encode()
            self.send_response(r.status)
            for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **r.headers}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._reply("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._reply("POST")

        def log_message(self, *args: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    srv.timeout = 10

    def loop() -> None:
        for _ in range(max_requests):
            srv.handle_request()
        srv.server_close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return srv, t
