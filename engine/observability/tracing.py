"""Spans with a parent/child tree, carried across asyncio tasks by contextvars, and JSON log lines
that carry the current trace, span and request ids but never user text.

An in-memory exporter stands in for Tempo: finished spans land in `Tracer.finished`.
"""

from __future__ import annotations

import contextvars
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

REDACTED_KEYS = frozenset({"prompt", "completion", "messages", "text", "sentence"})
_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("span", default=None)
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    start: float = 0.0
    end: float = 0.0


class Tracer:
    def __init__(self, resource: dict[str, str], ids: Iterator[str] | None = None) -> None:
        self.resource = resource
        self.finished: list[Span] = []
        self._ids = ids

    def _new_id(self, nbytes: int) -> str:
        return next(self._ids) if self._ids else secrets.token_hex(nbytes)

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Span]:
        parent = _current.get()
        trace_id = parent.trace_id if parent else self._new_id(16)
        s = Span(name, trace_id, self._new_id(8), parent.span_id if parent else None, dict(attributes), time.perf_counter())
        token = _current.set(s)
        try:
            yield s
        finally:
            s.end = time.perf_counter()
            _current.reset(token)
            self.finished.append(s)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def current_span() -> Span | None:
    return _current.get()


class JsonLogger:
    """One JSON object per line. `with_request_id=False` is the phase's break: the correlation id is lost."""

    def __init__(self, with_request_id: bool = True) -> None:
        self.lines: list[str] = []
        self.with_request_id = with_request_id

    def log(self, level: str, event: str, **fields: Any) -> None:
        record: dict[str, Any] = {"level": level, "event": event}
        span = _current.get()
        if span:
            record["trace_id"], record["span_id"] = span.trace_id, span.span_id
        rid = _request_id.get()
        if rid and self.with_request_id:
            record["request_id"] = rid
        record.update({k: v for k, v in fields.items() if k not in REDACTED_KEYS})
        self.lines.append(json.dumps(record, sort_keys=True))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]
