"""The 42-phase progress strip: one cell per phase, three rows of fourteen, arrow keys to move.

States use both a glyph and a colour, so the strip still reads under NO_COLOR:
`·` no content yet, `□` no runnable lab yet, `○` not started, `◐` in progress, `●` done.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

PER_ROW = 14
GLYPH = {"missing": "·", "no_lab": "□", "not_started": "○", "in_progress": "◐", "done": "●"}
STYLE = {"missing": "dim", "no_lab": "dim", "not_started": "", "in_progress": "yellow", "done": "green"}


class PhaseStrip(Widget, can_focus=True):

    BINDINGS = [
        Binding("left", "move(-1)", "Prev", show=False),
        Binding("right", "move(1)", "Next", show=False),
        Binding("up", "move(-14)", "Up", show=False),
        Binding("down", "move(14)", "Down", show=False),
        Binding("k", "move(-14)", "Up", show=False),
        Binding("j", "move(14)", "Down", show=False),
        Binding("enter", "open", "Open phase"),
    ]

    cursor: reactive[int] = reactive(0)

    class Highlighted(Message):
        def __init__(self, phase: int) -> None:
            super().__init__()
            self.phase = phase

    class Selected(Message):
        def __init__(self, phase: int) -> None:
            super().__init__()
            self.phase = phase

    def __init__(self, states: dict[int, str] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.states = states or {}

    def set_states(self, states: dict[int, str]) -> None:
        self.states = states
        self.refresh()

    def render(self) -> Text:
        if not self.states:
            return Text("loading the course content…", style="dim")  # not 42 "no content yet" cells
        text = Text()
        n = max(len(self.states), 42)
        for i in range(n):
            state = self.states.get(i, "missing")
            style = STYLE[state] + (" reverse" if i == self.cursor and self.has_focus else "")
            style += " underline" if i == self.cursor else ""
            text.append(f"{GLYPH[state]}{i:02d}", style=style.strip())
            text.append("\n" if (i + 1) % PER_ROW == 0 and i + 1 < n else " ")
        return text

    def watch_cursor(self, value: int) -> None:
        self.post_message(self.Highlighted(value))

    def action_move(self, delta: int) -> None:
        self.cursor = max(0, min(max(len(self.states), 42) - 1, self.cursor + delta))

    def action_open(self) -> None:
        self.post_message(self.Selected(self.cursor))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
