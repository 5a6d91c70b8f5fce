"""Two runs' manifests compared by category (CODE > VERSIONS > HARDWARE > ENV > TIME > OTHER)."""

from __future__ import annotations

import json
from typing import Any

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from workbench.tui.app import WorkbenchApp
from workbench.tui.text import esc as escape

STYLE = {"CODE": "red", "VERSIONS": "red", "HARDWARE": "yellow", "ENV": "yellow", "TIME": "dim", "OTHER": "cyan"}


def _show(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def diff_markup(a: dict, b: dict) -> tuple[str, int]:
    """The grouped diff as markup: a heading per category, then each key with its A and B values."""
    from engine.core.manifest import compare as mdiff

    grouped = mdiff.diff(a, b, ignore=("id", "artifacts"))
    code = mdiff.drift_exit_code(grouped)
    lines = [f"[b]A[/b] {escape(a['id'])}  {escape(a['status'])}",
             f"[b]B[/b] {escape(b['id'])}  {escape(b['status'])}"]
    for cat in mdiff.CATEGORIES:
        if not grouped[cat]:
            continue
        lines.append(f"\n[b {STYLE[cat]}]{cat}[/] ({len(grouped[cat])})")
        for key, va, vb in grouped[cat]:
            lines.append(f" [b]{escape(key)}[/b]\n   A {escape(_show(va))}\n   B {escape(_show(vb))}")
    quiet = [c for c in mdiff.CATEGORIES if not grouped[c]]
    if quiet:
        lines.append(f"\n[dim]no differences in {', '.join(quiet)}[/]")
    verdict = "CODE or VERSIONS drift: a CI gate would fail (exit 1)" if code else "no CODE or VERSIONS drift (exit 0)"
    lines.append(f"[b]{verdict}[/b]")
    return "\n".join(lines), code


class DiffScreen(Screen):
    app = getters.app(WorkbenchApp)  # typed: this screen runs inside the workbench app only

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, a: str, b: str) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.exit_code: int | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with VerticalScroll(id="diff-scroll"):
            yield Static("", id="diff")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from workbench.store.runs import get_manifest

        conn = self.app.db()
        found = [get_manifest(conn, ref) for ref in (self.a, self.b)]
        if any(f is None for f in found):
            self.query_one("#diff", Static).update("[red]one of the runs is no longer in the index[/]")
            return
        text, self.exit_code = diff_markup(found[0][0], found[1][0])  # type: ignore[index]
        self.query_one("#diff", Static).update(text)
        self.query_one("#diff-scroll").focus()
