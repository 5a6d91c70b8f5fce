"""Model caches that heal: a cache file that cannot be read is named, moved aside and rebuilt.

Trained models are cached under ~/.cache/lynx-workbench so later labs need not retrain. A file
cut short by a full disk or a killed writer used to crash every later run with a bare
SafetensorError. `load_cached(path, load)` instead reports the file and the error on stderr,
renames it to `<name>.corrupt-<UTC>` (kept for inspection, never deleted) and returns None,
so the caller retrains and writes a fresh copy.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from safetensors import SafetensorError

T = TypeVar("T")


def cache_root() -> Path:
    """The one cache root: $LYNX_CACHE, else $XDG_CACHE_HOME/lynx-workbench, else ~/.cache/lynx-workbench."""
    if os.environ.get("LYNX_CACHE"):
        return Path(os.environ["LYNX_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lynx-workbench"


UNREADABLE = (SafetensorError, OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError)


def move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
    path.rename(aside)
    return aside


def load_cached(path: Path, load: Callable[[Path], T]) -> T | None:
    """`load(path)`, or None (after moving the file aside, with one line on stderr) if it cannot be read."""
    try:
        return load(path)
    except UNREADABLE as exc:
        try:
            where = f"moved it to {move_aside(path).name}"
        except OSError as move_exc:
            where = f"could not move it aside ({move_exc.strerror}); delete it by hand"
        print(f"warning: corrupt model cache {path}: {type(exc).__name__}: {exc}; {where}; retraining", file=sys.stderr)
        return None
