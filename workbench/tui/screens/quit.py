"""Quitting with runs in flight asks first: cancel them, let them finish detached, or stay.

Letting them finish keeps the process alive without the UI until each run has written its
manifest (`workbench` prints what it waits for; ctrl-c then cancels them).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.tui.text import esc as escape


class QuitScreen(ModalScreen[str]):
    """Dismisses with "cancel", "detach" or "stay"."""

    BINDINGS = [
        Binding("x", "choose('cancel')", "Cancel runs, quit"),
        Binding("q", "choose('detach')", "Quit, let runs finish"),
        Binding("escape", "choose('stay')", "Stay"),
    ]

    def __init__(self, targets: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets = targets

    def compose(self) -> ComposeResult:
        runs = ", ".join(escape(t) for t in self.targets)
        with Vertical(id="quit-box"):
            yield Static(
                f"[b]{len(self.targets)} run(s) in flight:[/b] {runs}\n\n"
                "  [b]x[/b]    cancel them and quit (their manifests say cancelled)\n"
                "  [b]q[/b]    quit the UI and let them finish (manifests written as usual)\n"
                "  [b]esc[/b]  stay"
            )

    def on_mount(self) -> None:
        self.query_one("#quit-box").border_title = "Quit?"

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
