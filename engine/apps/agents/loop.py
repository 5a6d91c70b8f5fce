"""The agent loop: ask the planner for the next action, run a tool call through ordinary code,
record the observation, repeat until the planner answers or a cap stops it.

The caps are what make this a component rather than a demo: a budget of tool calls and a rule
that the same (tool, arguments) twice in a row halts. Tool failures (unknown tool, a ToolError,
bad arguments) become observations, never exceptions. With `caps=None` (the phase's break) the
loop is `while True` and only the caller's guard (`guard_calls`, `guard_s`) ends it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.apps.agents.memory import Scratchpad
from engine.apps.tools import grammar  # noqa: F401 - registers the four phase-31 tools
from engine.apps.tools.base import REGISTRY, ToolError

FALLBACK = "I tried but could not resolve the grammar question in time."
Planner = Callable[[str, Scratchpad], dict[str, Any]]


@dataclass(frozen=True)
class Caps:
    max_tool_calls: int = 8
    halt_on_duplicate: bool = True


@dataclass
class AgentRun:
    answer: dict[str, Any]
    tool_calls: int
    turns: int
    stop: str  # answer | budget | duplicate | guard
    scratchpad: Scratchpad = field(default_factory=Scratchpad)

    @property
    def terminated_by_cap(self) -> bool:
        return self.stop in ("budget", "duplicate")


def call_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one tool; every failure comes back as {"error": ...}."""
    tool = REGISTRY.get(name)
    if tool is None:
        return {"error": f"unknown tool {name!r}; tools are {sorted(REGISTRY)}"}
    try:
        return {"result": tool.fn(**args)}
    except ToolError as e:
        return {"error": str(e)}
    except TypeError as e:
        return {"error": f"bad arguments for {name}: {e}"}


def run_loop(request: str, planner: Planner, caps: Caps | None = Caps(), guard_calls: int = 10_000,
             guard_s: float = 2.0, dispatch: Callable[[str, dict[str, Any]], dict[str, Any]] = call_tool) -> AgentRun:
    pad = Scratchpad()  # fresh for every request
    calls = turns = 0
    last_key = None
    t0 = time.monotonic()
    while True:
        if caps is None and (calls >= guard_calls or time.monotonic() - t0 > guard_s):
            return AgentRun({"text": FALLBACK}, calls, turns, "guard", pad)
        if caps is not None and calls >= caps.max_tool_calls:
            return AgentRun({"text": FALLBACK}, calls, turns, "budget", pad)
        turns += 1
        action = planner(request, pad)
        if "answer" in action:
            return AgentRun(action["answer"], calls, turns, "answer", pad)
        key = json.dumps([action.get("tool"), action.get("args")], sort_keys=True)
        if caps is not None and caps.halt_on_duplicate and key == last_key:
            return AgentRun({"text": FALLBACK}, calls, turns, "duplicate", pad)
        last_key = key
        calls += 1
        pad.append(action, dispatch(str(action.get("tool")), dict(action.get("args") or {})))
