"""A JSON-Schema subset: compile a schema to a character regex (for masks) and validate documents.

Supported keywords (what phases 30-31 need): type object/string/boolean/integer, enum, const,
properties, required, additionalProperties (false is the only mode generated), maxLength.
Documents are generated minified with keys in the schema's property order; optional keys may be
skipped, never repeated. Strings carry no escapes. `jsonschema` is not installed here, so
`validate` is our own post-hoc checker over the same subset, and `check_schema` rejects keywords
outside it so a schema never silently means something else.
"""

from __future__ import annotations

import json
import string
from typing import Any

from engine.structured import regex as R

SUPPORTED = {"type", "enum", "const", "properties", "required", "additionalProperties", "maxLength",
             "description", "title"}
TYPES = {"object", "string", "boolean", "integer"}
STRING_CHARS = string.ascii_letters + string.digits + " _-.'"  # no quote, no backslash: no escapes
DEFAULT_MAX_LENGTH = 30

TENSE_ENUM = ["infinitive", "present_simple", "past_simple", "past_participle", "simple_future"]
PERSON_ENUM = ["1sg", "2sg", "3sg"]
# the project's tense labels (engine.text.verbs.TENSES) mapped onto the course's snake-case schema names
TENSE_FROM_PROJECT = {"infinitive": "infinitive", "present": "present_simple", "past": "past_simple",
                      "past_participle": "past_participle", "future": "simple_future"}


def conjugation_schema() -> dict[str, Any]:
    from engine.text.verbs import VERBS

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
    if t is not None and t not in TYPES:
        errs.append(f"{path}: unsupported type {t!r}")
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        errs.append(f"{path}: enum must be a non-empty list")
    if "maxLength" in schema and not (isinstance(schema["maxLength"], int) and schema["maxLength"] >= 0):
        errs.append(f"{path}: maxLength must be a non-negative integer")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        return errs + [f"{path}: properties must be an object"]
    for name in schema.get("required", []):
        if name not in props:
            errs.append(f"{path}: required key {name!r} has no property")
    for name, sub in props.items():
        errs += check_schema(sub, f"{path}.{name}")
    return errs


def validate(doc: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Reasons `doc` does not satisfy `schema` (empty list: valid)."""
    if "const" in schema:
        return [] if doc == schema["const"] else [f"{path}: expected const {schema['const']!r}"]
    if "enum" in schema and doc not in schema["enum"]:
        return [f"{path}: {doc!r} is not one of the enum"]
    t = schema.get("type")
    if t == "object":
        if not isinstance(doc, dict):
            return [f"{path}: expected an object"]
        props = schema.get("properties", {})
        errs = [f"{path}: missing required key {k!r}" for k in schema.get("required", []) if k not in doc]
        if schema.get("additionalProperties", True) is False:
            errs += [f"{path}: unexpected key {k!r}" for k in doc if k not in props]
        for k, v in doc.items():
            if k in props:
                errs += validate(v, props[k], f"{path}.{k}")
        return errs
    if t == "string":
        if not isinstance(doc, str):
            return [f"{path}: expected a string"]
        if "maxLength" in schema and len(doc) > schema["maxLength"]:
            return [f"{path}: longer than {schema['maxLength']}"]
    if t == "boolean" and not isinstance(doc, bool):
        return [f"{path}: expected a boolean"]
    if t == "integer" and (isinstance(doc, bool) or not isinstance(doc, int)):
        return [f"{path}: expected an integer"]
    return []


def compile_schema(schema: dict[str, Any]) -> R.Node:
    """The regex of every minified document the generator may emit for `schema`."""
    if "const" in schema:
        return R.lit(json.dumps(schema["const"], separators=(",", ":")))
    if "enum" in schema:
        return R.alt(*(R.lit(json.dumps(v, separators=(",", ":"))) for v in schema["enum"]))
    t = schema.get("type")
    if t == "string":
        body = R.rep(R.chars(STRING_CHARS), 0, int(schema.get("maxLength", DEFAULT_MAX_LENGTH)))
        return R.seq(R.lit('"'), body, R.lit('"'))
    if t == "boolean":
        return R.alt(R.lit("true"), R.lit("false"))
    if t == "integer":
        digit = R.chars(R.DIGITS)
        return R.seq(R.rep(R.lit("-"), 0, 1), R.alt(R.lit("0"), R.seq(R.chars("123456789"), R.rep(digit, 0, 8))))
    if t == "object":
        return _object(schema)
    raise ValueError(f"cannot compile schema with type {t!r}")


def _object(schema: dict[str, Any]) -> R.Node:
    props = list(schema.get("properties", {}).items())
    required = set(schema.get("required", []))
    values = [R.seq(R.lit(json.dumps(k) + ":"), compile_schema(sub)) for k, sub in props]
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
