"""The standalone experiments (same lab schema as phases), each opening the lab screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from workbench.tui.text import esc as escape


class ExperimentsScreen(Screen):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        yield Static("[b]Experiments[/b] — enter opens one", classes="screen-title")
        yield OptionList(id="experiments")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        for exp_id, exp in sorted(self.app.catalog.experiments.items()):
            options.add_option(Option(f"[b]{escape(exp_id)}[/b]  {escape(exp.title)}", id=exp_id))
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.app.open_lab_target(event.option.id)
