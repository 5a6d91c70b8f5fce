"""Run an ASGI app under uvicorn on 127.0.0.1 in a background thread (port chosen by the OS), for
labs, tests and the benchmark: `with UvicornThread(app) as srv: srv.port`."""

from __future__ import annotations

import threading
import time

import uvicorn

HOST = "127.0.0.1"


class UvicornThread:
    def __init__(self, app, start_timeout_s: float = 30.0, limit_concurrency: int = 128) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=0, log_level="warning", access_log=False,
                                                    lifespan="off", timeout_keep_alive=5,
                                                    limit_concurrency=limit_concurrency))
        self.start_timeout_s = start_timeout_s
        self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.port = 0

    def __enter__(self) -> UvicornThread:
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10)
