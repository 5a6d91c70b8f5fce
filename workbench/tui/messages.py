"""The app's events, as Textual messages: screens handle the ones they care about.

The app posts each to every screen on its stack (a screen not on top still refreshes, so
coming back to it shows the truth); no screen is called by a duck-typed method name.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class RunStarted(Message):
    """A lab run began on a worker thread."""

    def __init__(self, live: Any) -> None:
        super().__init__()
        self.live = live


class RunFinished(Message):
    """A lab run ended (any status) and its manifest, if any, is written and indexed."""

    def __init__(self, live: Any) -> None:
        super().__init__()
        self.live = live


class CatalogLoaded(Message):
    """The content catalog finished loading (it loads after the first paint)."""
