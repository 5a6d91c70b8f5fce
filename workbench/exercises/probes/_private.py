"""Calling a private slot (`_merge_word`, `_rotate`) through a side.

Sides expose public names only, so a probe reaches a private function slot by looking it up on
its module while that side's slots are installed.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


def through(side: Any, module: ModuleType, name: str, *args: Any) -> Any:
    """module.name(*args), called with `side`'s slots installed."""
    return side.call(lambda: getattr(module, name)(*args))
