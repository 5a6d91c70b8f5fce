"""Typed lab config: the YAML `config:` block is the declaration, its values give the types.

A lab's config is declared once, in its YAML. Each key's type is inferred from its default:
an integer default takes integers, a float default takes any number (stored as float), a
bool takes true/false, text takes text, a list takes a list (of numbers if the default's
items are all numbers, of text if all text), a mapping is typed key by key. Where the
default cannot say it — a `null` default, or a key that takes more than one kind — the lab
declares the type explicitly in its `types:` block, e.g. `types: {size_bytes: int | null}`.
Type names: int, float, bool, str, list, dict, null, any, joined with `|`.

`check_overrides` is applied to `quick:`, a `--config` file and every `--set`: an unknown
key is refused naming the valid keys, a wrong type naming the expected type.
"""

from __future__ import annotations

from typing import Any

NAMES = ("int", "float", "bool", "str", "list", "dict", "null", "any")
_SHOWN = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text", "list": "a list",
          "dict": "a mapping", "null": "null", "any": "anything"}
RUN_KEYS = {"seed": "int"}  # settable run keys that no lab needs to declare


class ConfigTypeError(ValueError):
    """An override that does not fit the lab's declared config (exit code 2)."""


def parse_type(text: str, where: str = "types") -> tuple[str, ...]:
    parts = tuple(p.strip() for p in str(text).split("|"))
    bad = [p for p in parts if p not in NAMES]
    if bad or not parts:
        raise ConfigTypeError(
            f"{where}: unknown type {bad[0] if bad else text!r} (use {', '.join(NAMES)}, joined with |)"
        )
    return parts


def infer(value: Any) -> tuple[str, ...]:
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool",)
    if isinstance(value, int):
        return ("int",)
    if isinstance(value, float):
        return ("float",)
    if isinstance(value, str):
        return ("str",)
    if isinstance(value, list):
        return ("list",)
    if isinstance(value, dict):
        return ("dict",)
    return ("any",)


def describe(kinds: tuple[str, ...]) -> str:
    return " or ".join(_SHOWN[k] for k in kinds)


def _kind_of(value: Any) -> str:
    return infer(value)[0]


def _item_kind(items: list[Any]) -> str | None:
    """'number' or 'str' when every item of a default list is one of those, else None (anything)."""
    if items and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        return "number"
    if items and all(isinstance(v, str) for v in items):
        return "str"
    return None


def _fits(kinds: tuple[str, ...], value: Any, default: Any) -> Any:
    """The value converted to the declared type (an int where a float is declared becomes a float), or raise."""
    got = _kind_of(value)
    if "any" in kinds or got in kinds:
        if got == "list" and isinstance(default, list):
            want = _item_kind(default)
            if want == "number" and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise TypeError("a list of numbers")
            if want == "str" and not all(isinstance(v, str) for v in value):
                raise TypeError("a list of text")
        return value
    if got == "int" and "float" in kinds:
        return float(value)
    raise TypeError(describe(kinds))


def declared_types(config: dict[str, Any], types: dict[str, str], where: str = "config") -> dict[str, tuple[str, ...]]:
    """{dotted key: kinds} for every key of `config` (nested mappings flattened), explicit types first.
    Raises ConfigTypeError for a `null` default without a declared type or a type for an unknown key."""
    out: dict[str, tuple[str, ...]] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if dotted in types:
                out[dotted] = parse_type(types[dotted], f"types.{dotted}")
            elif value is None:
                raise ConfigTypeError(
                    f"{where}.{dotted}: a null default says nothing about its type;"
                    f" declare it in types: (e.g. {dotted}: int | null)"
                )
            else:
                out[dotted] = infer(value)
            if isinstance(value, dict) and dotted not in types:
                walk(value, dotted + ".")

    walk(config, "")
    for key in types:
        if key not in out:
            raise ConfigTypeError(f"types.{key}: not a key of config")
    return out


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def check_overrides(
    config: dict[str, Any], types: dict[str, str], overrides: dict[str, Any], source: str
) -> dict[str, Any]:
    """`overrides` checked against the declared config: the same mapping with ints widened where a
    float is declared. `source` names where the overrides came from (`--set`, a file, `quick`)."""
    kinds = declared_types(config, types)

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out = {}
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if dotted not in kinds and not prefix and key in RUN_KEYS:
                want = parse_type(RUN_KEYS[key])
            elif dotted not in kinds:
                siblings = sorted(k[len(prefix):] for k in kinds if k.startswith(prefix) and "." not in k[len(prefix):])
                scope = f" of {prefix.rstrip('.')}" if prefix else ""
                raise ConfigTypeError(
                    f"{source}: {dotted!r} is not a config key{scope} (valid: {', '.join(siblings) or 'none'})"
                )
            else:
                want = kinds[dotted]
            if (
                isinstance(value, dict)
                and want == ("dict",)
                and isinstance(_lookup(config, dotted), dict)
                and dotted not in types
            ):
                out[key] = walk(value, dotted + ".")
                continue
            try:
                out[key] = _fits(want, value, _lookup(config, dotted))
            except TypeError as exc:
                raise ConfigTypeError(
                    f"{source}: {dotted} = {value!r}: expected {exc}, got {describe(infer(value))}"
                ) from None
        return out

    return walk(overrides, "")
