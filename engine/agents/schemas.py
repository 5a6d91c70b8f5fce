"""The planner's output schema and its compilation to a mask regex.

The planner emits either a tool call (one branch per phase-31 tool: the tool's name as a
constant and that tool's own argument schema) or a final answer (corrected sentence or null, a
list of one to three rationale strings, an optional Spanish gloss or null, in_scope). Phase 30's
schema compiler covers objects, strings, enums and booleans; this module adds the three things
the planner needs on top of it (oneOf, arrays, nullable types) and a validator for the same
subset, delegating every leaf to the phase-30 code.
"""

from __future__ import annotations

import json
from typing import Any

from engine.structured import regex as R
from engine.structured.schema import compile_schema
from engine.structured.schema import validate as validate_leaf
from engine.tools.base import REGISTRY

TEXT = {"type": "string", "maxLength": 24}


def planner_schema() -> dict[str, Any]:
    calls = [{"type": "object", "additionalProperties": False, "required": ["tool", "args"],
              "properties": {"tool": {"const": name}, "args": tool.input_schema}}
             for name, tool in sorted(REGISTRY.items())]
    answer = {"type": "object", "additionalProperties": False, "required": ["corrected", "rationale", "in_scope"],
              "properties": {"corrected": {"type": ["string", "null"], "maxLength": 24},
                             "rationale": {"type": "array", "items": TEXT, "minItems": 1, "maxItems": 3},
                             "spanish_gloss": {"type": ["string", "null"], "maxLength": 24},
                             "in_scope": {"type": "boolean"}}}
    return {"oneOf": [*calls, answer]}


def compile_planner(schema: dict[str, Any]) -> R.Node:
    """Regex of every minified document of `schema` (keys in schema order)."""
    if "oneOf" in schema:
        return R.alt(*(compile_planner(s) for s in schema["oneOf"]))
    t = schema.get("type")
    if isinstance(t, list):
        return R.alt(*(R.lit("null") if x == "null" else compile_planner({**schema, "type": x}) for x in t))
    if t == "array":
        item = compile_planner(schema["items"])
        lo, hi = int(schema.get("minItems", 0)), int(schema.get("maxItems", 8))
        more = R.rep(R.seq(R.lit(","), item), max(0, lo - 1), hi - 1)
        body = R.seq(item, more) if lo >= 1 else R.alt(R.EPS, R.seq(item, more))
        return R.seq(R.lit("["), body, R.lit("]"))
    if t == "object":
        return _object(schema)
    return compile_schema(schema)


def _object(schema: dict[str, Any]) -> R.Node:
    props = list(schema.get("properties", {}).items())
    required = set(schema.get("required", []))
    values = [R.seq(R.lit(json.dumps(k) + ":"), compile_planner(sub)) for k, sub in props]

    def rest(i: int, first: bool) -> R.Node:
        options = []
        for j in range(i, len(props)):
            options.append(R.seq(R.EPS if first else R.lit(","), values[j], rest(j + 1, False)))
            if props[j][0] in required:
                break
        else:
            options.append(R.EPS)
        return R.alt(*options)

    return R.seq(R.lit("{"), rest(0, True), R.lit("}"))


def validate(doc: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Reasons `doc` fails `schema` over the planner subset (oneOf: exactly one branch)."""
    if "oneOf" in schema:
        ok = sum(not validate(doc, s, path) for s in schema["oneOf"])
        return [] if ok == 1 else [f"{path}: matches {ok} oneOf branches, not 1"]
    t = schema.get("type")
    if isinstance(t, list):
        if doc is None and "null" in t:
            return []
        errs = [validate(doc, {**schema, "type": x}, path) for x in t if x != "null"]
        return [] if any(not e for e in errs) else [f"{path}: not any of {t}"]
    if t == "array":
        if not isinstance(doc, list):
            return [f"{path}: expected an array"]
        if not schema.get("minItems", 0) <= len(doc) <= schema.get("maxItems", 8):
            return [f"{path}: {len(doc)} items out of range"]
        return [e for i, d in enumerate(doc) for e in validate(d, schema["items"], f"{path}[{i}]")]
    if t == "object" and isinstance(doc, dict):
        props = schema.get("properties", {})
        errs = [f"{path}: missing required key {k!r}" for k in schema.get("required", []) if k not in doc]
        errs += [f"{path}: unexpected key {k!r}" for k in doc if k not in props]
        return errs + [e for k, v in doc.items() if k in props for e in validate(v, props[k], f"{path}.{k}")]
    return validate_leaf(doc, schema, path)
