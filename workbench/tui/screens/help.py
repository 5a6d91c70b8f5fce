"""`?`: the keys of the screen you are on, then the ones that work everywhere.

Built from the live bindings, so it cannot drift from what the keys do. A screen adds its
own paragraph by defining `help_extra() -> str` (the lab screen explains its break; other
features can add e.g. the learner's next hint there). Escape, `q` or `?` closes it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from workbench.tui.text import esc as escape


def _ours(node: Any) -> list[Binding]:
    """The bindings a workbench class declares (not Textual's scrolling and focus defaults)."""
    out: list[Binding] = []
    for cls in type(node).__mro__:
        if cls.__module__.startswith("workbench.") and "BINDINGS" in vars(cls):
            out += [b if isinstance(b, Binding) else Binding(*b) for b in vars(cls)["BINDINGS"]]
    return out


def key_rows(screen: Screen) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(this screen's keys, global keys) as (key, what it does), from the classes' bindings."""
    app = screen.app
    focused = screen.focused
    here_bindings = _ours(screen) + (_ours(focused) if focused is not None else [])
    rows: list[list[tuple[str, str]]] = [[], []]
    for i, bindings in enumerate((here_bindings, _ours(app))):
        seen: set[str] = set()
        for b in bindings:
            if b.description and b.description not in seen:
                seen.add(b.description)
                rows[i].append((app.get_key_display(b), b.description))
    return rows[0], rows[1]


def help_markup(screen: Screen) -> str:
    here, everywhere = key_rows(screen)
    title = getattr(screen, "HELP_TITLE", None) or type(screen).__name__.removesuffix("Screen")
    lines = [f"[b]Keys: {escape(title)}[/b]"]
    doc = getattr(screen, "HELP", "")
    if doc:
        lines.append(f"[dim]{escape(doc)}[/]")
    lines += [f"  [b]{escape(k):>7}[/b]  {escape(d)}" for k, d in here] or ["  (no keys of its own)"]
    extra = screen.help_extra() if hasattr(screen, "help_extra") else ""
    if extra:
        lines += ["", extra]
    lines += ["", "[b]Everywhere[/b]"]
    lines += [f"  [b]{escape(k):>7}[/b]  {escape(d)}" for k, d in everywhere]
    lines += ["  [b]    j/k[/b]  down / up where the arrow keys move",
              "  [b] ctrl+p[/b]  command palette: every action by name"]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, for_screen: Screen, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = help_markup(for_screen)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self.text, id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "Help (esc closes)"
        self.query_one("#help-box").focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
