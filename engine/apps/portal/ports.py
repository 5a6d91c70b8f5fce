"""What the portal needs from the learning side, as a Protocol: the web app depends on this
interface only, and the workbench provides the implementation over its own workspace (catalog,
run index, quiz graders, SM-2 deck, progress) in workbench/portal/adapter.py.

`ws` is a learner's workspace key as stored on the account ('.' for the workspace owner, whose
data the TUI and CLI use; 'learners/<name>' for every other learner). Values are plain dicts and
lists (templates render them; JSON views return them).
"""

from __future__ import annotations

from datetime import date, datetime
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol


class Learning(Protocol):
    def phases(self) -> list[dict[str, Any]]: ...

    def phase(self, number: int) -> dict[str, Any] | None: ...

    def lab_runs(self, ws: str, number: int) -> dict[str, dict[str, Any]]: ...

    def chart_file(self, ws: str, run_id: str, name: str) -> Path | None: ...

    def quiz(self, number: int) -> dict[str, Any] | None: ...

    def attempts(self, ws: str, number: int, limit: int = 10) -> list[dict[str, Any]]: ...

    def submit(self, ws: str, number: int, answers: dict[str, str], mode: str,
               started_at: datetime, today: date) -> dict[str, Any]: ...

    def reviews(self, ws: str, today: date) -> dict[str, Any]: ...

    def grade_review(self, ws: str, quiz_id: str, item_id: str, grade: int, today: date) -> dict[str, Any]: ...

    def strip(self, ws: str) -> list[str]: ...

    def summary(self, ws: str, today: date) -> dict[str, Any]: ...

    def databases(self) -> dict[str, Path]: ...


def load_backend(dotted: str, root: Path) -> Learning:
    """Build the Learning backend named "module:Class" for workspace `root`.

    Content wires the backend (like a lab's `entry:`), so the engine never imports the workbench:
    phase-41's YAML names workbench.portal.adapter:WorkspaceLearning.
    """
    module, _, name = dotted.partition(":")
    if not module or not name:
        raise ValueError(f"learning backend {dotted!r}: expected module:Class")
    return getattr(import_module(module), name)(root)
