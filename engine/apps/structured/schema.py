"""The project's one JSON-Schema subset: compile a schema to a character regex (for masks) and
validate documents against it. Phases 12 (corpus rows), 30 (conjugation JSON), 31 (tool inputs)
and 32 (the planner's oneOf) all validate here.

Supported keywords: type (object, string, boolean, integer, number, array, null, or a list of
them), enum, const, properties, required, additionalProperties (false is the only mode
generated), maxLength, minLength, pattern (validation only), items, minItems, maxItems, oneOf;
$schema, title and description are annotations. Documents are generated minified with keys in
the schema's property order; optional keys may be skipped, never repeated. Strings carry no
escapes. `check_schema` rejects keywords outside the subset so a schema never silently means
something else; tests check `validate` against the `jsonschema` package where it is installed.

The regex alphabet is one character per byte of UTF-8 (latin-1 view): ASCII is itself, and a
Spanish letter is its two UTF-8 bytes, so masks work for byte-level BPE tokens whose bytes split
a letter as well as for character vocabularies.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

from engine.apps.structured import regex as R

SUPPORTED = {"type", "enum", "const", "properties", "required", "additionalProperties", "maxLength", "minLength",
             "pattern", "items", "minItems", "maxItems", "oneOf", "description", "title", "$schema"}
TYPES = {"object", "string", "boolean", "integer", "number", "array", "null"}
STRING_CHARS = string.ascii_letters + string.digits + " _-.'"  # no quote, no backslash: no escapes
SPANISH_LETTERS = "áéíóúñüÁÉÍÓÚÑÜ¿¡"
DEFAULT_MAX_LENGTH = 30
DEFAULT_MAX_ITEMS = 8


def as_bytes_text(text: str) -> str:
    """The automaton's view of a string: one character per UTF-8 byte."""
    return text.encode("utf-8").decode("latin-1")


TENSE_ENUM = ["infinitive", "present_simple", "past_simple", "past_participle", "simple_future"]
PERSON_ENUM = ["1sg", "2sg", "3sg"]
# the project's tense labels (engine.lm.text.verbs.TENSES) mapped onto the course's snake-case schema names
TENSE_FROM_PROJECT = {"infinitive": "infinitive", "present": "present_simple", "past": "past_simple",
                      "past_participle": "past_participle", "future": "simple_future"}


def conjugation_schema() -> dict[str, Any]:
    from engine.lm.text.verbs import VERBS

    return {"type": "object", "additionalProperties": False, "required": ["verb", "tense", "person"],
            "properties": {"verb": {"type": "string", "enum": list(VERBS)},
                           "tense": {"type": "string", "enum": list(TENSE_ENUM)},
                           "person": {"type": "string", "enum": list(PERSON_ENUM)},
                           "spanish": {"type": "string", "maxLength": 30}}}


def check_schema(schema: Any, path: str = "$") -> list[str]:
    """Problems that make `schema` fall outside the supported subset (empty list: fine)."""
    if not isinstance(schema, dict):
        return [f"{path}: schema must be an object"]
    errs = [f"{path}: unsupported keyword {k!r}" for k in schema if k not in SUPPORTED]
    t = schema.get("type")
    for x in t if isinstance(t, list) else [t] if t is not None else []:
        if x not in TYPES:
            errs.append(f"{path}: unsupported type {x!r}")
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        errs.append(f"{path}: enum must be a non-empty list")
    for key in ("maxLength", "minLength", "minItems", "maxItems"):
        if key in schema and not (isinstance(schema[key], int) and schema[key] >= 0):
            errs.append(f"{path}: {key} must be a non-negative integer")
    if "oneOf" in schema:
        if not isinstance(schema["oneOf"], list) or not schema["oneOf"]:
            errs.append(f"{path}: oneOf must be a non-empty list")
        else:
            for i, sub in enumerate(schema["oneOf"]):
                errs += check_schema(sub, f"{path}.oneOf[{i}]")
    if "items" in schema:
        errs += check_schema(schema["items"], f"{path}[]")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        return errs + [f"{path}: properties must be an object"]
    for name in schema.get("required", []):
        if name not in props:
            errs.append(f"{path}: required key {name!r} has no property")
    for name, sub in props.items():
        errs += check_schema(sub, f"{path}.{name}")
    return errs


_PY_TYPES: dict[str, Any] = {"object": dict, "string": str, "boolean": bool, "array": list, "null": type(None),
                             "integer": int, "number": (int, float)}


def _is_type(doc: Any, t: str) -> bool:
    if t in ("integer", "number") and isinstance(doc, bool):
        return False
    if t == "integer" and isinstance(doc, float):
        return doc.is_integer()
    return isinstance(doc, _PY_TYPES[t])


def validate(doc: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Reasons `doc` does not satisfy `schema` (empty list: valid)."""
    if "oneOf" in schema:
        n = sum(not validate(doc, s, path) for s in schema["oneOf"])
        if n != 1:
            return [f"{path}: matches {n} oneOf branches, not exactly 1"]
    if "const" in schema and doc != schema["const"]:
        return [f"{path}: expected const {schema['const']!r}"]
    if "enum" in schema and doc not in schema["enum"]:
        return [f"{path}: {doc!r} is not one of the enum"]
    t = schema.get("type")
    if t is not None:
        names = t if isinstance(t, list) else [t]
        if not any(_is_type(doc, x) for x in names):
            return [f"{path}: expected {'/'.join(names)}, got {type(doc).__name__}"]
    errs: list[str] = []
    if isinstance(doc, dict):
        props = schema.get("properties", {})
        errs += [f"{path}: missing required key {k!r}" for k in schema.get("required", []) if k not in doc]
        if schema.get("additionalProperties", True) is False:
            errs += [f"{path}: unexpected key {k!r}" for k in doc if k not in props]
        for k, v in doc.items():
            if k in props:
                errs += validate(v, props[k], f"{path}.{k}")
    elif isinstance(doc, str):
        if "maxLength" in schema and len(doc) > schema["maxLength"]:
            errs.append(f"{path}: longer than {schema['maxLength']}")
        if len(doc) < schema.get("minLength", 0):
            errs.append(f"{path}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], doc):
            errs.append(f"{path}: does not match {schema['pattern']}")
    elif isinstance(doc, list):
        if len(doc) < schema.get("minItems", 0):
            errs.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(doc) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            errs += [e for i, d in enumerate(doc) for e in validate(d, schema["items"], f"{path}[{i}]")]
    return errs


def _lit(value: Any) -> R.Node:
    return R.lit(as_bytes_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False)))


def _string_body(lo: int, hi: int) -> R.Node:
    letter = R.alt(R.chars(STRING_CHARS), *(R.lit(as_bytes_text(c)) for c in SPANISH_LETTERS))
    return R.rep(letter, lo, hi)


def compile_schema(schema: dict[str, Any]) -> R.Node:
    """The regex of every minified document the generator may emit for `schema`.

    `pattern` is not compiled (validation only); `number` is generated as an integer."""
    if "oneOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "oneOf"}
        return R.alt(*(compile_schema({**rest, **sub}) for sub in schema["oneOf"]))
    if "const" in schema:
        return _lit(schema["const"])
    if "enum" in schema:
        return R.alt(*(_lit(v) for v in schema["enum"]))
    t = schema.get("type")
    if isinstance(t, list):
        return R.alt(*(compile_schema({**schema, "type": x}) for x in t))
    if t == "null":
        return R.lit("null")
    if t == "string":
        body = _string_body(int(schema.get("minLength", 0)), int(schema.get("maxLength", DEFAULT_MAX_LENGTH)))
        return R.seq(R.lit('"'), body, R.lit('"'))
    if t == "boolean":
        return R.alt(R.lit("true"), R.lit("false"))
    if t in ("integer", "number"):
        digit = R.chars(R.DIGITS)
        return R.seq(R.rep(R.lit("-"), 0, 1), R.alt(R.lit("0"), R.seq(R.chars("123456789"), R.rep(digit, 0, 8))))
    if t == "array":
        return _array(schema)
    if t == "object" or "properties" in schema:
        return _object(schema)
    raise ValueError(f"cannot compile schema with type {t!r}")


def _array(schema: dict[str, Any]) -> R.Node:
    item = compile_schema(schema.get("items", {"type": "string"}))
    lo, hi = int(schema.get("minItems", 0)), int(schema.get("maxItems", DEFAULT_MAX_ITEMS))
    if hi == 0:
        return R.lit("[]")
    more = R.rep(R.seq(R.lit(","), item), max(0, lo - 1), hi - 1)
    body = R.seq(item, more) if lo >= 1 else R.alt(R.EPS, R.seq(item, more))
    return R.seq(R.lit("["), body, R.lit("]"))


def _object(schema: dict[str, Any]) -> R.Node:
    props = list(schema.get("properties", {}).items())
    required = set(schema.get("required", []))
    values = [R.seq(_lit(k), R.lit(":"), compile_schema(sub)) for k, sub in props]
    memo: dict[tuple[int, bool], R.Node] = {}

    def rest(i: int, first: bool) -> R.Node:
        """Members from property i on, keys in order, every skipped key optional."""
        if (i, first) in memo:
            return memo[(i, first)]
        options = []
        for j in range(i, len(props)):
            options.append(R.seq(R.EPS if first else R.lit(","), values[j], rest(j + 1, False)))
            if props[j][0] in required:
                break
        else:
            options.append(R.EPS)  # every remaining key is optional: the object may close
        memo[(i, first)] = out = R.alt(*options)
        return out

    return R.seq(R.lit("{"), rest(0, True), R.lit("}"))


def without_required(schema: dict[str, Any]) -> dict[str, Any]:
    """The phase-31 break: the same schema with every `required` list dropped."""
    out = {k: v for k, v in schema.items() if k != "required"}
    if "properties" in out:
        out["properties"] = {k: without_required(v) for k, v in out["properties"].items()}
    return out
