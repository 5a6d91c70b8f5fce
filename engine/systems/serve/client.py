"""A bounded HTTP/1.1 client and closed-loop load generator for servers on 127.0.0.1 only.

`closed_loop` keeps at most `concurrency` requests outstanding (one per simulated client, each on
its own kept-alive connection) until every payload is sent or `budget_s` has passed; each request
has its own timeout. Nothing here
can target another host: the address is fixed.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


async def request(port: int, method: str, path: str, payload: Any = None, *, raw: bytes | None = None,
                  headers: dict[str, str] | None = None, timeout_s: float = 30.0) -> Reply:
    body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode()

    async def go() -> Reply:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(head + body)
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        hdrs = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        hdrs = {k.lower(): v for k, v in hdrs.items()}
        if hdrs.get("transfer-encoding") == "chunked":
            rest = _dechunk(rest)
        return Reply(int(lines[0].split(" ", 2)[1]), hdrs, rest)

    return await asyncio.wait_for(go(), timeout_s)


def _dechunk(data: bytes) -> bytes:
    out, i = b"", 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j], 16)
        if size == 0:
            return out
        out += data[j + 2 : j + 2 + size]
        i = j + 2 + size + 2


def call(port: int, method: str, path: str, payload: Any = None, **kw: Any) -> Reply:
    return asyncio.run(request(port, method, path, payload, **kw))


@dataclass
class Sample:
    index: int  # position of the payload in the list sent
    latency_s: float
    status: int  # 0: timeout or connection error
    tokens: int
    completion: str | None = None


class KeepAlive:
    """One HTTP/1.1 connection reused for a client's requests (as a real client's pool would),
    reopened when the server has closed it. Responses are read by Content-Length."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, payload: Any, timeout_s: float) -> Reply:
        body = json.dumps(payload).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        for attempt in (0, 1):
            try:
                return await asyncio.wait_for(self._send(head + body), timeout_s)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _send(self, data: bytes) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        self.writer.write(data)
        await self.writer.drain()
        top = await self.reader.readuntil(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        hdrs = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
        rest = await self.reader.readexactly(int(hdrs.get("content-length", 0)))
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return Reply(int(lines[0].split(" ", 2)[1]), hdrs, rest)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _closed_loop(port: int, path: str, payloads: list[Any], concurrency: int, timeout_s: float,
                       budget_s: float) -> tuple[list[Sample], float]:
    todo = iter(enumerate(payloads))
    out: list[Sample] = []
    t_start = time.perf_counter()
    stop_at = t_start + budget_s

    async def client() -> None:
        conn = KeepAlive(port)
        try:
            for i, p in todo:
                if time.perf_counter() > stop_at:
                    return
                t0 = time.perf_counter()
                try:
                    r = await conn.post(path, p, timeout_s)
                    body = r.json() if r.status == 200 else {}
                    out.append(Sample(i, time.perf_counter() - t0, r.status, body.get("tokens", 0), body.get("completion")))
                except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError):
                    conn.close()
                    out.append(Sample(i, time.perf_counter() - t0, 0, 0))
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return out, time.perf_counter() - t_start


def closed_loop(port: int, path: str, payloads: list[Any], concurrency: int, timeout_s: float = 30.0,
                budget_s: float = 120.0) -> tuple[list[Sample], float]:
    """Samples and the wall time the whole run took."""
    return asyncio.run(_closed_loop(port, path, payloads, concurrency, timeout_s, budget_s))
