"""The official `mcp` Python SDK as a client of our hand-written server (engine.apps.tools.server).

Our server and client share framing code, so a round trip between them can hide a shared
mistake. The SDK is an independent implementation of the protocol: if its stdio client can
negotiate, list the tools and call them, our server speaks MCP and not just our dialect of it.
The SDK's stdio transport is newline-delimited JSON, which is our server's default framing
(the Content-Length framing of the course's lab 01 is ours alone; the SDK has no such mode).
Skipped where the SDK is not installed (it is in the dev extra).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

mcp = pytest.importorskip("mcp", reason="the official MCP SDK is not installed (pip install -e '.[dev]')")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

from engine.apps.structured.schema import PERSON_ENUM, TENSE_ENUM  # noqa: E402
from engine.apps.tools.base import REGISTRY  # noqa: E402
from engine.apps.tools.server import PROTOCOL_VERSION, SERVER_INFO  # noqa: E402
from engine.lm.text.verbs import VERBS  # noqa: E402
from engine.lm.text.verbs import conjugate as truth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _params(*server_args: str) -> StdioServerParameters:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return StdioServerParameters(command=sys.executable, args=["-m", "engine.apps.tools.server", *server_args],
                                 cwd=str(ROOT), env=env)


async def _session(body: Any, *server_args: str) -> Any:
    async with stdio_client(_params(*server_args)) as (read, write), ClientSession(read, write) as s:
        return await body(s)


def run(body: Any, *server_args: str) -> Any:
    return asyncio.run(asyncio.wait_for(_session(body, *server_args), timeout=60))


def test_sdk_negotiates_lists_and_calls() -> None:
    async def body(s: ClientSession) -> dict[str, Any]:
        init = await s.initialize()
        tools = await s.list_tools()
        ate = await s.call_tool("conjugate", {"verb": "eat", "tense": "past_simple", "person": "3sg"})
        parts = await s.call_tool("lookup_irregular_verb", {"verb": "go"})
        refused = await s.call_tool("lookup_spanish", {"english_form": "beautiful"})
        return {"init": init, "tools": tools.tools, "ate": ate, "parts": parts, "refused": refused}

    out = run(body)
    init = out["init"]
    # the SDK asks for its newest handshake version; ours answers with the one it implements
    assert init.protocol_version == PROTOCOL_VERSION
    assert init.server_info.name == SERVER_INFO["name"] and init.capabilities.tools is not None
    assert {t.name: t.input_schema for t in out["tools"]} == {n: t.input_schema for n, t in REGISTRY.items()}
    assert out["ate"].is_error is False and out["ate"].content[0].text == "ate"
    assert json.loads(out["parts"].content[0].text) == {"infinitive": "go", "past_simple": "went",
                                                        "past_participle": "gone", "is_irregular": True}
    # a tool error is a result flagged isError, not a protocol error
    assert out["refused"].is_error is True and "beautiful" in out["refused"].content[0].text


def test_sdk_sees_protocol_errors_with_their_codes() -> None:
    async def body(s: ClientSession) -> list[int]:
        await s.initialize()
        codes = []
        for name, args in (("unkn_tool", {}), ("conjugate", {"verb": "eat"}),
                           ("conjugate", {"verb": "run", "tense": "past_simple", "person": "3sg"})):
            try:
                await s.call_tool(name, args)
                codes.append(0)
            except MCPError as e:
                codes.append(e.error.code)
        return codes

    assert run(body) == [-32602, -32602, -32602]  # unknown tool, missing argument, value outside the enum


def test_sdk_sees_the_dropped_required_break_as_internal_error() -> None:
    async def body(s: ClientSession) -> int:
        await s.initialize()
        try:
            await s.call_tool("conjugate", {"verb": "eat"})
        except MCPError as e:
            return e.error.code
        return 0

    assert run(body, "--drop-required") == -32603  # the KeyError falls through to the generic handler


def test_sdk_round_trip_matches_the_truth_table() -> None:
    cells = [(v, t, p) for v in VERBS for t in range(len(TENSE_ENUM)) for p in range(len(PERSON_ENUM))]

    async def body(s: ClientSession) -> list[str]:
        await s.initialize()
        out = []
        for v, t, p in cells:
            r = await s.call_tool("conjugate", {"verb": v, "tense": TENSE_ENUM[t], "person": PERSON_ENUM[p]})
            assert r.is_error is False
            out.append(r.content[0].text)
        return out

    assert run(body) == [truth(v, t, p) for v, t, p in cells]
