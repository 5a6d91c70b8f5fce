"""OpenTelemetry SDK tracing for the serving stack, exported to a JSON-lines file that a lab can
read back (no collector or Tempo needed), plus the structure checks a trace store would answer:
spans per trace and orphans (a span whose parent is not in its trace).

Each provider is its own object (never the global one), so several apps and labs can run in one
process without sharing spans.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)


class JsonlSpanExporter(SpanExporter):
    """One JSON object per finished span, appended to `path` (flushed per batch)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

        self._file = self.path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(span_record(s), sort_keys=True) for s in spans]
        with self._lock:
            self._file.write("".join(line + "\n" for line in lines))
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def span_record(s: ReadableSpan) -> dict[str, Any]:
    ctx = s.get_span_context()
    return {"name": s.name, "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
            "parent_id": f"{s.parent.span_id:016x}" if s.parent else None,
            "start_ns": s.start_time, "end_ns": s.end_time, "status": s.status.status_code.name,
            "attributes": dict(s.attributes or {}), "service": (s.resource.attributes or {}).get("service.name")}


def tracer_provider(path: str | Path, service: str, version: str = "dev", environment: str = "local",
                    batch: bool = True) -> TracerProvider:
    """Spans go to `path` in batches from a background thread (call shutdown() to flush), or
    synchronously when `batch` is False."""
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": version,
                                                        "deployment.environment": environment}))
    exporter = JsonlSpanExporter(path)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500) if batch
                                else SimpleSpanProcessor(exporter))
    return provider


def read_spans(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def trace_stats(spans: list[dict[str, Any]]) -> dict[str, Any]:
    """Spans per trace, roots per trace and orphans, as a trace backend would show them."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_trace.setdefault(s["trace_id"], []).append(s)
    orphans, roots = 0, Counter()
    for tid, group in by_trace.items():
        ids = {s["span_id"] for s in group}
        for s in group:
            if s["parent_id"] is None:
                roots[tid] += 1
            elif s["parent_id"] not in ids:
                orphans += 1
    sizes = [len(g) for g in by_trace.values()]
    return {"traces": len(by_trace), "spans": len(spans), "orphans": orphans,
            "spans_per_trace_min": min(sizes, default=0), "spans_per_trace_max": max(sizes, default=0),
            "roots_per_trace_max": max(roots.values(), default=0),
            "traces_without_root": sum(1 for t in by_trace if roots[t] == 0)}
