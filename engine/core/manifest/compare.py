"""Compare two run manifests the way Phase 00 asks: flatten, categorise, report by impact.

Keys are flattened to dotted paths (`versions.numpy`). Each difference falls in one
category, highest impact first: CODE (git sha / dirty), VERSIONS, HARDWARE, ENV, TIME,
OTHER. TIME holds the run's times and the results the lab declares `measured` (read off a
clock); any other result that differs lands in OTHER: for the same code, config and seed, that
is a reproducibility failure. A key present on one side only shows `<missing>` on the other.
Drift in CODE or VERSIONS is what a CI gate should stop on, so `drift_exit_code` is non-zero
for those.

Usable as `python -m engine.core.manifest A.json B.json` (stdlib only).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

CATEGORIES = ("CODE", "VERSIONS", "HARDWARE", "ENV", "TIME", "OTHER")
MISSING = "<missing>"
_TIME_KEYS = {"wall_seconds", "started_at", "finished_at"}
_CODE_KEYS = {"git_sha", "git_dirty"}


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys. Lists are kept whole (compared as values); empty dicts add no key."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def is_measured(result_key: str, measured: Iterable[str]) -> bool:
    """Does a result key match one of the lab's `measured` names (shell patterns: `*_tokens_per_s`)?"""
    return any(fnmatchcase(result_key, pattern) for pattern in measured)


def category(key: str, measured: frozenset[str] = frozenset()) -> str:
    head = key.split(".", 1)[0]
    if key in _CODE_KEYS or head == "git":
        return "CODE"
    if head == "versions":
        return "VERSIONS"
    if head == "hardware":
        return "HARDWARE"
    if head == "env":
        return "ENV"
    if key in _TIME_KEYS or (head == "results_summary" and is_measured(key.split(".")[1], measured)):
        return "TIME"
    return "OTHER"


def diff(a: dict[str, Any], b: dict[str, Any], ignore: tuple[str, ...] = ()) -> dict[str, list[tuple[str, Any, Any]]]:
    """Differences grouped by category: {category: [(key, a_value, b_value), ...]}."""
    fa, fb = flatten(a), flatten(b)
    measured = frozenset(a.get("measured") or ()) | frozenset(b.get("measured") or ())
    grouped: dict[str, list[tuple[str, Any, Any]]] = {c: [] for c in CATEGORIES}
    for key in sorted(set(fa) | set(fb)):
        if any(key == i or key.startswith(i + ".") for i in ignore):
            continue
        va, vb = fa.get(key, MISSING), fb.get(key, MISSING)
        if va != vb:
            grouped[category(key, measured)].append((key, va, vb))
    return grouped


def drift_exit_code(grouped: dict[str, list[tuple[str, Any, Any]]]) -> int:
    return 1 if grouped["CODE"] or grouped["VERSIONS"] else 0


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def format_diff(grouped: dict[str, list[tuple[str, Any, Any]]]) -> list[str]:
    lines = []
    for cat in CATEGORIES:
        for key, va, vb in grouped[cat]:
            lines.append(f"[{cat}] {key}: {_show(va)} -> {_show(vb)}")
    quiet = [c for c in CATEGORIES if not grouped[c]]
    if quiet:
        lines.append(f"(no differences in {', '.join(quiet)})")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m engine.core.manifest A.json B.json", file=sys.stderr)
        return 2
    try:
        a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in args)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read manifest: {exc}", file=sys.stderr)
        return 2
    grouped = diff(a, b)
    print("\n".join(format_diff(grouped)))
    return drift_exit_code(grouped)
