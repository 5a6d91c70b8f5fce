"""Serve the portal with uvicorn on 127.0.0.1: for good (the CLI) or in a background thread on
an ephemeral port (labs, tests, the benchmark), stopped when the block ends.

uvicorn's event loop handles every connection concurrently, so a client that opens a socket
and sends nothing (slowloris) holds one idle coroutine and blocks nobody. Load stays bounded:
at most `limit_concurrency` connections are served at once (beyond that, 503), idle keep-alive
connections close after 5 s, and a graceful shutdown waits at most 5 s.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

LIMIT_CONCURRENCY = 200


def config(app: Any, host: str = "127.0.0.1", port: int = 8001, **kw: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level=kw.pop("log_level", "warning"), access_log=False,
                          limit_concurrency=LIMIT_CONCURRENCY, timeout_keep_alive=5, timeout_graceful_shutdown=5,
                          server_header=False, date_header=True, lifespan="off", **kw)


def serve_forever(app: Any, host: str = "127.0.0.1", port: int = 8001) -> None:
    uvicorn.Server(config(app, host, port, log_level="info")).run()


@contextmanager
def background(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `app` on host:<free port> in a thread; yields the base URL; always stops the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config(app, host, port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="portal-uvicorn")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the portal's uvicorn server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
