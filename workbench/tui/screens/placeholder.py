"""A screen that holds a navigation slot until the real screen lands."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static


class PlaceholderScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text, self.message = title, message

    def compose(self) -> ComposeResult:
        with Vertical(id="placeholder"):
            yield Static(f"[b]{self.title_text}[/b]", classes="screen-title")
            yield Static(self.message)
        yield Footer(compact=True)
