"""Every named screen of the TUI, in one table: its key, its title, and how to make it.

The app opens them all the same way (`app.action_open(name)`), the command palette and the
`?` help list them from here, and docs/KEYS.md documents the same keys. Screens that take
an argument (a phase, a lab, a run) are opened by the screen that knows the argument.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from textual.screen import Screen


@dataclass(frozen=True)
class Entry:
    name: str
    key: str
    title: str
    path: str  # module:Class
    blurb: str
    keep: bool = False  # one instance kept while the app runs (e.g. a measurement in flight reports to it)
    takes_phase: bool = False  # made with phase=<the phase last opened> and today=<--as-of>

    def make(self, app: Any) -> Screen:
        module, _, cls = self.path.partition(":")
        factory = getattr(importlib.import_module(module), cls)
        if self.takes_phase:
            return factory(phase=getattr(app, "current_phase", None), today=getattr(app, "as_of", None))
        return factory()


SCREENS: dict[str, Entry] = {e.name: e for e in (
    Entry("runs", "r", "Runs", "workbench.tui.screens.runs:RunsScreen", "run history: filter, diff, overlay"),
    Entry("experiments", "e", "Experiments", "workbench.tui.screens.experiments:ExperimentsScreen",
          "the standalone experiments"),
    Entry("roofline", "o", "Roofline", "workbench.tui.screens.roofline:RooflineScreen",
          "this machine's roofline with the ops of your labs", keep=True),
    Entry("quiz", "z", "Quiz", "workbench.tui.screens.quiz:QuizScreen", "the phase quizzes", takes_phase=True),
    Entry("review", "v", "Review", "workbench.tui.screens.review:ReviewScreen",
          "spaced-repetition review of missed items", takes_phase=True),
)}
