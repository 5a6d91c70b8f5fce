"""Scoring mask-driven tool calls end to end: seeded prompts, generation, validation, dispatch over MCP.

Phase 31 lab 03 asks the tutor for a tool call per prompt and sends each one to the real server. This
module makes the prompts (a quarter per grammar tool, with the expected tool and arguments) and runs
them through one MCP client, tallying every outcome: parse failures, calls missing required
arguments, tool errors, protocol errors by code, and milliseconds per stage. The lab owns the
client (its flags are the break) and writes the transcript.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.apps.structured.schema import PERSON_ENUM, TENSE_ENUM
from engine.apps.tools.base import REGISTRY, ToolError
from engine.apps.tools.client import ArgumentError, MCPClient, ProtocolError
from engine.apps.tools.tool_call import generate_tool_call, validate_tool_call
from engine.lm.text.verbs import VERBS
from engine.lm.text.verbs import conjugate as truth

STAGES = ("mask_construction", "generation", "parse", "dispatch")


def tool_prompts(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """n prompts, a quarter per tool, each {prompt, expected_tool, expected_args}."""
    out = []
    for k in range(n):
        v = VERBS[int(rng.integers(len(VERBS)))]
        t, p = int(rng.integers(5)), int(rng.integers(3))
        kind = k % 4
        if kind == 0:
            out.append({"prompt": f"conjugate {v} {TENSE_ENUM[t].replace('_', ' ')} for {('i', 'you', 'he')[p]}",
                        "expected_tool": "conjugate",
                        "expected_args": {"verb": v, "tense": TENSE_ENUM[t], "person": PERSON_ENUM[p]}})
        elif kind == 1:
            out.append({"prompt": f"principal parts of {v}", "expected_tool": "lookup_irregular_verb",
                        "expected_args": {"verb": v}})
        elif kind == 2:
            form = truth(v, 2, 2)
            out.append({"prompt": f"spanish for {form}", "expected_tool": "lookup_spanish",
                        "expected_args": {"english_form": form}})
        else:
            form = truth(v, 1, 2)
            out.append({"prompt": f"does i {form} agree", "expected_tool": "check_subject_verb_agreement",
                        "expected_args": {"subject": "i", "verb_form": form}})
    return out


@dataclass
class Tally:
    """What a batch of prompts produced: counters, outcome codes, per-stage milliseconds, the transcript."""

    counts: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    transcript: list[dict[str, Any]] = field(default_factory=list)


def _dispatch(client: MCPClient, name: str, arguments: dict[str, Any], tally: Tally) -> Any:
    """Send one validated call; a tool error or a protocol error is counted and returned as text."""
    try:
        result = client.call_tool(name, **arguments)
        tally.codes["ok"] += 1
        return result
    except ToolError as e:
        tally.counts["tool_errors"] += 1
        tally.codes["isError"] += 1
        return f"tool error: {e}"
    except (ProtocolError, ArgumentError) as e:
        tally.counts["dispatch_failures"] += 1
        tally.codes[str(getattr(e, "code", "client"))] += 1
        return f"protocol error {getattr(e, 'code', '')}: {e}"


def run_prompts(client: MCPClient, model: Any, tok: Any, prompts: list[dict[str, Any]],
                schemas: dict[str, dict[str, Any]], seed: int, temperature: float,
                on_dispatched: Callable[[int], None] | None = None) -> Tally:
    """Generate a call for each prompt (generator seed + k), validate it, dispatch it, tally the outcome.

    `on_dispatched(k)` is called after each dispatched call (not after parse failures)."""
    tally = Tally()
    for k, pr in enumerate(prompts):
        call = generate_tool_call(model, tok, pr["prompt"], schemas, np.random.default_rng(seed + k),
                                  temperature=temperature)
        for s, v in call.timings_ms.items():
            tally.stage_ms[s].append(v)
        entry: dict[str, Any] = {"prompt": pr["prompt"], "model_output_str": call.text}
        if call.arguments is None or validate_tool_call({"name": call.name, "arguments": call.arguments}, schemas):
            tally.counts["parse_failures"] += 1
            tally.codes["parse"] += 1
            tally.transcript.append(entry)
            continue
        tally.counts["correct_tool"] += call.name == pr["expected_tool"]
        required = REGISTRY[call.name].input_schema.get("required", [])
        tally.counts["calls_missing_args"] += any(r not in call.arguments for r in required)
        t0 = time.perf_counter()
        entry["tool_result"] = _dispatch(client, call.name, call.arguments, tally)
        tally.stage_ms["dispatch"].append((time.perf_counter() - t0) * 1e3)
        tally.transcript.append(entry)
        if on_dispatched is not None:
            on_dispatched(k)
    return tally
