"""The Recorder protocol: how a lab reports what it measured.

A lab entry is `fn(cfg: dict, rec: Recorder) -> dict`. It calls `rec.log(step, **metrics)`
as it goes, `rec.artifact(path, role)` for files it writes under `rec.out_dir`, and
`rec.note(text)` for prose worth keeping. The returned dict is the lab's result: plain
JSON values, checked against the lab's `checks:` and written to results.json.

Two recorders live here so the engine is usable without the workbench:
`MemoryRecorder` (tests, notebooks) and `JsonlRecorder` (a run directory, plus an
optional event stream that a parent process reads live).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import IO, Any, Protocol


class Recorder(Protocol):
    out_dir: Path

    def log(self, step: int, **metrics: float) -> None: ...
    def artifact(self, path: str | Path, role: str) -> Path: ...
    def note(self, text: str) -> None: ...
    def progress(self, done: int, total: int) -> None: ...
    # optional: checkpoint(record) names a cached model/adapter the run used (engine.lm.models.registry.record)


def _clean(value: Any) -> Any:
    """JSON-safe scalars: numpy numbers become Python floats/ints, NaN/inf become strings."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(value: Any) -> Any:
    """Public form of the cleaner, for results dicts."""
    return _clean(value)


class MemoryRecorder:
    """Keeps everything in lists. For tests and notebooks."""

    def __init__(self, out_dir: str | Path | None = None) -> None:
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="lynx-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.records: list[dict[str, Any]] = []
        self.artifacts: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.checkpoints: list[dict[str, Any]] = []  # the manifest's "checkpoints": which cached models the run used
        self.last_progress: tuple[int, int] | None = None

    def log(self, step: int, **metrics: float) -> None:
        self.records.append({"step": step, **_clean(metrics)})

    def artifact(self, path: str | Path, role: str) -> Path:
        p = Path(path)
        p = p if p.is_absolute() else self.out_dir / p
        self.artifacts.append({"path": str(p), "role": role})
        return p

    def note(self, text: str) -> None:
        self.notes.append(text)

    def progress(self, done: int, total: int) -> None:
        self.last_progress = (done, total)

    def checkpoint(self, record: dict[str, Any]) -> None:
        """A cached checkpoint this run used ({name, kind, key, sha256, path}); once per key."""
        if all(c.get("key") != record.get("key") for c in self.checkpoints):
            self.checkpoints.append(_clean(dict(record)))

    def series(self, key: str, x: str = "step") -> tuple[list[Any], list[Any]]:
        rows = [r for r in self.records if key in r and x in r]
        return [r[x] for r in rows], [r[key] for r in rows]


class JsonlRecorder(MemoryRecorder):
    """Appends every record to `<out_dir>/metrics.jsonl` and mirrors it as an event line.

    The event stream (one JSON object per line) is what the parent process reads to draw
    live charts; metrics.jsonl is flushed per line so a killed run keeps what it logged.
    """

    def __init__(self, out_dir: str | Path, events: IO[str] | None = None) -> None:
        super().__init__(out_dir)
        self._metrics = open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._events = events

    def _emit(self, event: dict[str, Any]) -> None:
        if self._events is not None:
            self._events.write(json.dumps(event, separators=(",", ":")) + "\n")
            self._events.flush()

    def log(self, step: int, **metrics: float) -> None:
        super().log(step, **metrics)
        row = self.records[-1]
        self._metrics.write(json.dumps(row, separators=(",", ":")) + "\n")
        self._metrics.flush()
        self._emit({"type": "metric", **row})

    def artifact(self, path: str | Path, role: str) -> Path:
        p = super().artifact(path, role)
        self._emit({"type": "artifact", "path": str(p), "role": role})
        return p

    def note(self, text: str) -> None:
        super().note(text)
        self._emit({"type": "note", "text": text})

    def progress(self, done: int, total: int) -> None:
        super().progress(done, total)
        self._emit({"type": "progress", "done": done, "total": total})

    def checkpoint(self, record: dict[str, Any]) -> None:
        n = len(self.checkpoints)
        super().checkpoint(record)
        if len(self.checkpoints) > n:
            self._emit({"type": "checkpoint", "record": self.checkpoints[-1]})

    def close(self) -> None:
        self._metrics.close()
