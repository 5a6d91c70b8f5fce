"""Navigation slots for screens built elsewhere (quiz, review), with a placeholder until they exist.

A slot names a module; the module provides `make_screen(app, phase)` returning a Screen,
or a class named in the slot taking `(phase=...)`. If the module is not there yet, the
key still works and opens a screen that says the feature is coming.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

from textual.screen import Screen


@dataclass(frozen=True)
class Slot:
    key: str
    title: str
    module: str
    cls: str
    blurb: str


SLOTS: dict[str, Slot] = {
    "quiz": Slot("z", "Quiz", "workbench.tui.screens.quiz", "QuizScreen", "the phase quizzes, graded per item kind"),
    "review": Slot("v", "Review", "workbench.tui.screens.review", "ReviewScreen", "spaced-repetition review of missed items"),
}


def _module(name: str) -> Any:
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(name)


def make_slot_screen(name: str, app: Any, phase: int | None) -> Screen:
    from workbench.tui.screens.placeholder import PlaceholderScreen

    slot = SLOTS[name]
    module = _module(slot.module)
    if module is not None:
        if hasattr(module, "make_screen"):
            return module.make_screen(app, phase)
        if hasattr(module, slot.cls):
            return getattr(module, slot.cls)(phase=phase)
    return PlaceholderScreen(slot.title, f"{slot.title} is coming: {slot.blurb}.")
