"""Where runs and the database live: $WORKBENCH_HOME, else the current directory."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("WORKBENCH_HOME") or Path.cwd())
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    return home() / "runs"


def db_path() -> Path:
    return home() / "workbench.db"
