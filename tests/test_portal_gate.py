"""The login gate (engine/apps/portal/gate.py): Argon2 work is bounded to `slots` at once with a short
queue; past it a login gets 503 + Retry-After at once, the same for a known and an unknown user.

Occupancy is driven by events, not by timing: a verify that blocks until the test releases it.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from test_portal_attacks import PASSWORD, Client, Site

from engine.apps.portal.gate import Busy, Gate
from engine.apps.portal.server import background


def test_gate_admits_slots_queues_then_refuses() -> None:
    async def scenario() -> tuple[int, int, int, int]:
        gate, release = Gate(slots=1, queue=1, max_wait_s=60), asyncio.Event()

        async def hold() -> None:
            async with gate.slot():
                await release.wait()

        first, second = asyncio.create_task(hold()), asyncio.create_task(hold())
        while gate.running + gate.waiting < 2:
            await asyncio.sleep(0)
        with pytest.raises(Busy) as full:
            async with gate.slot():
                pass
        release.set()
        await asyncio.gather(first, second)
        return full.value.retry_after_s, gate.admitted, gate.rejected, gate.running + gate.waiting

    retry, admitted, rejected, left = asyncio.run(scenario())
    assert retry >= 1 and (admitted, rejected, left) == (2, 1, 0)


def test_gate_refuses_a_login_that_waits_too_long() -> None:
    async def scenario() -> int:
        gate, release = Gate(slots=1, queue=5, max_wait_s=0.01), asyncio.Event()

        async def hold() -> None:
            async with gate.slot():
                await release.wait()

        holder = asyncio.create_task(hold())
        while gate.running < 1:
            await asyncio.sleep(0)
        with pytest.raises(Busy, match="waited too long"):
            async with gate.slot():
                pass
        release.set()
        await holder
        async with gate.slot():  # the permit of the timed-out waiter was not leaked
            return gate.admitted

    assert asyncio.run(scenario()) == 2


def test_login_flood_gets_503_with_retry_after_not_a_pile_up(tmp_path: Path) -> None:
    site = Site(tmp_path, login_slots=1, login_queue=1, login_wait_ms=60_000,
                login_per_minute_user=1000, login_per_minute_ip=100_000)
    portal, release, verify = site.portal, threading.Event(), site.portal.passwords.verify
    token = site.invite("ana")

    def slow_verify(stored: str | None, password: str) -> bool:
        release.wait(30)
        return verify(stored, password)

    with background(site.app) as url:
        assert Client(url).redeem(token).status_code == 303
        portal.passwords.verify = slow_verify
        results: dict[str, int] = {}

        def login(tag: str, name: str) -> None:
            results[tag] = Client(url).login(name).status_code

        threads = [threading.Thread(target=login, args=(tag, "ana")) for tag in ("a", "b")]
        for t in threads:
            t.start()
        for _ in range(3000):  # until one login holds the slot and one waits (event-driven, no clock asserted)
            if portal.gate.running == 1 and portal.gate.waiting == 1:
                break
            threading.Event().wait(0.01)
        assert (portal.gate.running, portal.gate.waiting) == (1, 1)
        flood = [Client(url).login(name) for name in ("ana", "nobody-here")]
        release.set()
        for t in threads:
            t.join(30)
        portal.passwords.verify = verify
        after = Client(url).login("ana", PASSWORD)

    assert results == {"a": 303, "b": 303}
    assert [r.status_code for r in flood] == [503, 503]
    assert all(int(r.headers["retry-after"]) >= 1 for r in flood)
    assert flood[0].text == flood[1].text  # a known and an unknown user get the same answer
    assert after.status_code == 303 and portal.gate.rejected == 2
    log = "".join(p.read_text() for p in (tmp_path / "portal" / "audit").glob("*.log"))
    assert log.count('"auth.busy"') == 2


def test_gate_settings_are_integers() -> None:
    from engine.apps.portal.settings import SettingsError, from_env

    with pytest.raises(SettingsError, match="LYNX_PORTAL_LOGIN_SLOTS"):
        from_env({"LYNX_PORTAL_LOGIN_SLOTS": "two"})
    s = from_env({"LYNX_PORTAL_LOGIN_SLOTS": "3", "LYNX_PORTAL_LOGIN_QUEUE": "4"})
    assert (s.login_slots, s.login_queue, s.login_wait_ms) == (3, 4, 2000)
