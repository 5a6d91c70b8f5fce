"""Mask-driven tool calls: the model writes the tool name under an enum mask, then the arguments
under that tool's input-schema mask (two-stage decoding, phase 31 lab 03).

Masks are cached per (schema, tokenizer) so twenty calls build each automaton once; the
one-of-all-tools schema is for post-hoc validation only (`validate_tool_call`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.apps.structured.decode import generate
from engine.apps.structured.mask import JSONSchemaMask
from engine.apps.structured.schema import validate

_MASKS: dict[tuple[str, int], JSONSchemaMask] = {}


def cached_mask(tok: Any, schema: dict[str, Any]) -> JSONSchemaMask:
    key = (json.dumps(schema, sort_keys=True), id(tok))
    if key not in _MASKS:
        _MASKS[key] = JSONSchemaMask(tok, schema)
    return _MASKS[key]


def name_schema(tool_schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "string", "enum": sorted(tool_schemas)}


def validate_tool_call(call: dict[str, Any], tool_schemas: dict[str, dict[str, Any]]) -> list[str]:
    """The oneOf-over-tools check: a known name and arguments valid for it."""
    if call.get("name") not in tool_schemas:
        return [f"unknown tool {call.get('name')!r}"]
    return validate(call.get("arguments"), tool_schemas[call["name"]])


@dataclass
class ToolCall:
    name_text: str
    args_text: str
    name: str | None = None
    arguments: dict[str, Any] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f'{{"name":{self.name_text},"arguments":{self.args_text}}}'


def generate_tool_call(model: Any, tok: Any, prompt: str, tool_schemas: dict[str, dict[str, Any]],
                       rng: np.random.Generator, *, temperature: float = 0.7, max_new_tokens: int = 128) -> ToolCall:
    t0 = time.perf_counter()
    name_mask = cached_mask(tok, name_schema(tool_schemas))
    t1 = time.perf_counter()
    ids = tok.encode(prompt.strip() + " ")
    g1 = generate(model, tok, ids, rng, mask=name_mask, temperature=temperature, max_new_tokens=max_new_tokens)
    t2 = time.perf_counter()
    name = json.loads(g1.text) if g1.stopped == "done" else None
    t3 = time.perf_counter()
    args_text = ""
    args = None
    if name in tool_schemas:
        arg_mask = cached_mask(tok, tool_schemas[name])
        t3 = time.perf_counter()
        g2 = generate(model, tok, ids + g1.ids, rng, mask=arg_mask, temperature=temperature,
                      max_new_tokens=max_new_tokens)
        args_text = g2.text
        t4 = time.perf_counter()
        try:
            args = json.loads(args_text)
        except json.JSONDecodeError:
            args = None
    else:
        t4 = t3
    t5 = time.perf_counter()
    call = ToolCall(g1.text, args_text, name, args)
    call.timings_ms = {"mask_construction": (t1 - t0 + t3 - t2) * 1e3, "generation": (t2 - t1 + t4 - t3) * 1e3,
                       "parse": (t5 - t4) * 1e3}
    return call
