"""The login gate: a bounded semaphore in front of Argon2, with a bounded queue and a clean 503.

Why. An Argon2id verify at the production profile costs ~0.3 s of one core and 128 MiB. Two cores
verify at most cores / verify_s logins a second (about 6 here); past that, every extra concurrent
login only makes all of them slower (CPU and memory thrash) until clients time out. So the portal
admits at most `slots` hashes at once (default: the CPU count), lets at most `queue` more wait, and
answers anything beyond that, or anything that waited longer than `max_wait_s`, with
503 + Retry-After instead of a slow failure. Page views never wait here; only Argon2 work does.

The gate runs before the user is looked up, so its answer reveals nothing about who exists.
Single event loop only (uvicorn's); counters are plain ints because only that loop touches them.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Busy(Exception):
    """The gate is full; `retry_after_s` is when a retry has a fair chance."""

    def __init__(self, retry_after_s: int, why: str) -> None:
        super().__init__(why)
        self.retry_after_s = retry_after_s


class Gate:
    def __init__(self, slots: int | None = None, queue: int | None = None, max_wait_s: float = 2.0,
                 expected_s: float = 0.3) -> None:
        self.slots = max(1, slots or os.cpu_count() or 1)
        self.queue = self.slots * 2 if queue is None else max(0, queue)
        self.max_wait_s = max_wait_s
        self.expected_s = expected_s  # a running mean of the guarded work's wall time, for Retry-After
        self.running = self.waiting = 0
        self.admitted = self.rejected = 0
        self._sem: asyncio.Semaphore | None = None

    def capacity_per_s(self) -> float:
        """The arithmetic bound: slots / seconds per verify."""
        return self.slots / self.expected_s

    def retry_after(self) -> int:
        backlog = self.running + self.waiting + 1
        return max(1, math.ceil(backlog / self.slots * self.expected_s))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        if self.running >= self.slots and self.waiting >= self.queue:
            self.rejected += 1
            raise Busy(self.retry_after(), "login queue full")
        self.waiting += 1
        try:
            async with asyncio.timeout(self.max_wait_s):
                await self._sem.acquire()
        except TimeoutError:
            self.rejected += 1
            raise Busy(self.retry_after(), "waited too long for a login slot") from None
        finally:
            self.waiting -= 1
        self.running += 1
        self.admitted += 1
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.running -= 1
            self._sem.release()
            self.expected_s = 0.8 * self.expected_s + 0.2 * (time.perf_counter() - t0)
