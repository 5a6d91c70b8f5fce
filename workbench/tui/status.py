"""How a run's status reads on every screen: one colour per status, a break's verdict, its title.

A break run's status is its verdict, `detected` (the broken run meets the break's
expectations) or `missed`; runs indexed before the runner reported verdicts say
passed/failed, and read as detected/missed here too. The lab pane, the runs table, a
run's detail and the home screen's recent runs all go through these functions.
"""

from __future__ import annotations

import textwrap
from typing import Any

from workbench.tui.text import esc

STATUS_STYLE = {"passed": "green", "failed": "red", "crashed": "red", "timed_out": "red", "cancelled": "yellow",
                "skipped": "yellow", "planned": "yellow", "running": "cyan", "cancelling": "yellow", "idle": "dim",
                "detected": "green", "missed": "red"}
OLD_BREAK_WORDS = {"passed": "detected", "failed": "missed"}


def shown_status(status: str, kind: str | None = None) -> str:
    """The word shown: a break run's passed/failed (indexed before verdicts) reads detected/missed."""
    return OLD_BREAK_WORDS.get(status, status) if kind == "break" else status


def styled(status: str, kind: str | None = None, *, quarantined: bool = False, bold: bool = False) -> str:
    """Markup for a status word in its colour, `*` after a run from a dirty tree."""
    word = shown_status(status, kind)
    style = ("bold " if bold else "") + STATUS_STYLE.get(word, "white")
    return f"[{style}]{esc(word)}[/]" + ("[yellow]*[/]" if quarantined else "")


def break_title(row: dict[str, Any]) -> str | None:
    """The break's title for an index row (`title` column) or a manifest (`break.title`); None for a lab run."""
    target = row.get("target")
    if isinstance(target, dict):  # a manifest
        if target.get("kind") != "break":
            return None
        return target.get("title") or (row.get("break") or {}).get("title")
    if row.get("kind") != "break":
        return None
    return row.get("title") or None


def wrapped(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters (words kept whole where they fit)."""
    return textwrap.wrap(text, width=max(width, 8), break_on_hyphens=False) or [""]
