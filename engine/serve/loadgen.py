"""A bounded load generator for 127.0.0.1: `total` requests at most `concurrency` at a time (a
semaphore), each with a timeout; returns per-request (latency_ms, status). Status 0 means timeout or
connection error."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

HOST = "127.0.0.1"


async def request(port: int, method: str, path: str, payload: Any = None, timeout_s: float = 30.0,
                  raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
    head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()

    async def go() -> tuple[int, dict[str, Any]]:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(head + body)
        await writer.drain()
        data = await reader.read()
        writer.close()
        top, _, rest = data.partition(b"\r\n\r\n")
        return int(top.split(b" ", 2)[1]), json.loads(rest or b"{}")

    return await asyncio.wait_for(go(), timeout_s)


def call(port: int, method: str, path: str, payload: Any = None, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    return asyncio.run(request(port, method, path, payload, raw=raw))


async def _load(port: int, payloads: list[Any], concurrency: int, timeout_s: float) -> list[tuple[float, int]]:
    sem = asyncio.Semaphore(concurrency)

    async def one(p: Any) -> tuple[float, int]:
        async with sem:
            t0 = time.perf_counter()
            try:
                status, _ = await request(port, "POST", "/correct", p, timeout_s)
            except (TimeoutError, OSError, ValueError, IndexError):
                status = 0
            return (time.perf_counter() - t0) * 1000, status

    return list(await asyncio.gather(*(one(p) for p in payloads)))


def run_load(port: int, payloads: list[Any], concurrency: int, timeout_s: float = 30.0) -> list[tuple[float, int]]:
    return asyncio.run(_load(port, payloads, concurrency, timeout_s))
