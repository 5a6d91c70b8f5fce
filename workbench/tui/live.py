"""A lab run in flight, fed from a worker thread and read by the UI at its own pace.

`run_request` blocks, so it runs on a Textual thread worker. The worker only appends to
plain lists and bumps a counter; the UI polls those on a timer and redraws at most ~10
times a second. No message is posted per metric event, so a lab logging thousands of
points a second cannot flood the UI's queue.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from workbench.run_progress import RunProgress
from workbench.runner.plan import RunRequest


class LiveRun:
    def __init__(
        self, request: RunRequest, previous_wall: float | None = None, *, compare_healthy: bool = True
    ) -> None:
        self.request = request
        # A break run alone is compared with its healthy lab by the runner (which may run it first);
        # side by side, the healthy pane is that comparison (`healthy_note` says how it came out).
        self.compare_healthy = compare_healthy
        self.healthy_note: str | None = None
        series_key = next((c.series_by for c in request.charts if c.series_by), None)
        self.progress = RunProgress(dict(request.config), series_key, previous_wall)
        self.records: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.done = 0
        self.total = 0
        self.version = 0  # bumped on every event; the UI redraws when it changed
        self.cancel = threading.Event()
        self.finished = threading.Event()
        self.report: Any = None  # workbench.runner.session.RunReport once finished
        self.error: str | None = None
        self.started = self.progress.started = time.monotonic()
        self.ended: float | None = None
        self.wall: float | None = None  # the manifest's wall_seconds once finished: the number the tables show

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    @property
    def elapsed(self) -> float:
        if self.wall is not None:
            return self.wall
        return (self.ended or time.monotonic()) - self.started

    @property
    def status(self) -> str:
        if self.running:
            return "cancelling" if self.cancel.is_set() else "running"
        if self.report is not None:
            return self.report.status
        return "crashed"

    def on_event(self, event: dict[str, Any]) -> None:
        """Called on the worker thread for each event the lab prints."""
        kind = event.get("type")
        self.progress.feed(event)
        if kind == "metric":
            self.records.append({k: v for k, v in event.items() if k != "type"})
        elif kind == "progress":
            self.done, self.total = int(event.get("done", 0)), int(event.get("total", 0))
        elif kind == "note":
            self.notes.append(str(event.get("text", "")))
        self.version += 1

    def run(self) -> None:
        """The worker body: the one shared code path, with our event sink and cancel flag."""
        from workbench.runner.session import run_request

        try:
            self.report = run_request(self.request, on_event=self.on_event, cancel=self.cancel,
                                      compare_healthy=self.compare_healthy)
            manifest = getattr(self.report, "manifest", None)
            if manifest and manifest.get("wall_seconds") is not None:
                self.wall = float(manifest["wall_seconds"])
        except Exception as exc:  # noqa: BLE001 - shown in the pane; the UI must survive
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ended = time.monotonic()
            self.version += 1
            self.finished.set()
