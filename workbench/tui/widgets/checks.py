"""The check table: one row per check of a finished run (verdict, actual value, then the name).

A failed soft check reads `soft-fail`, so the hard/soft distinction needs no column of its own.
"""

from __future__ import annotations

import json
from typing import Any

from textual.widgets import DataTable


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 24 else text[:21] + "..."


def verdict(check: dict[str, Any]) -> str:
    if check["passed"]:
        return "PASS"
    return "FAIL" if check["hard"] else "soft-fail"


class CheckTable(DataTable):

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("result", "actual", "check")  # the value before the long name: narrow panes cut the end

    def show(self, checks: list[dict[str, Any]]) -> None:
        self.clear()
        for c in checks:
            mark = verdict(c)
            style = "green" if mark == "PASS" else ("red" if mark == "FAIL" else "yellow")
            self.add_row(f"[{style}]{mark}[/]", fmt(c["actual"]), c["name"])
