"""Unit tests of engine/systems/observability: percentiles from buckets (ours) on prometheus-client's
histograms, the serving metrics' exposition, the OpenTelemetry JSONL export and its tree checks
(an orphan is found), and cost arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Histogram

from engine.systems.observability.cost import RequestCost, decode_shares, usd
from engine.systems.observability.metrics import histogram_quantile
from engine.systems.observability.otel import read_spans, trace_stats, tracer_provider
from engine.systems.observability.prom import ServingMetrics, cumulative_buckets, families, quantile, samples


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    cum = [1, 3, 4, 4]  # 0.5 | 1.5 1.5 | 3.0 in buckets le 1, 2, 4, +Inf
    assert histogram_quantile(0.25, (1.0, 2.0, 4.0), cum) == pytest.approx(1.0)  # top of the first bucket
    assert histogram_quantile(0.5, (1.0, 2.0, 4.0), cum) == pytest.approx(1.5)  # halfway through (1, 2]
    assert histogram_quantile(1.0, (1.0, 2.0, 4.0), cum) == pytest.approx(4.0)
    assert histogram_quantile(0.99, (1.0, 2.0), [1, 1, 5]) == 2.0  # in +Inf: the highest finite bound


def test_quantile_from_prometheus_client_buckets_lands_in_the_exact_bucket() -> None:
    rng = np.random.default_rng(1)
    xs = rng.lognormal(0, 1, 5000)
    h = Histogram("x", "x", buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 50), registry=CollectorRegistry())
    for v in xs:
        h.observe(float(v))
    bounds, cum = cumulative_buckets(h)
    assert cum[-1] == 5000 and bounds == [0.1, 0.25, 0.5, 1, 2, 5, 10, 50]
    edges = (0.0, *bounds)
    for q in (0.5, 0.9, 0.99):
        exact = float(np.quantile(xs, q))
        k = int(np.searchsorted(edges, exact))
        assert edges[k - 1] <= quantile(h, q) <= edges[k]


def test_serving_metrics_exposition_and_gauges_read_at_scrape() -> None:
    box = [1.0]
    m = ServingMetrics(lambda: box[0], lambda: 3.0)
    m.requests.labels("/x", "POST", "200").inc(3)
    box[0] = 7
    text = m.exposition().decode()
    assert families(text)["lynx_requests"] == "counter" and len(families(text)) == 8
    got = samples(text)
    assert got['lynx_requests_total{endpoint="/x",method="POST",status="200"}'] == 3.0
    assert got["lynx_queue_depth"] == 7.0 and got["lynx_kv_slots_in_use"] == 3.0


def test_jsonl_span_export_reads_back_as_one_tree(tmp_path) -> None:
    provider = tracer_provider(tmp_path / "s.jsonl", "t", batch=False)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root", kind=trace.SpanKind.SERVER), tracer.start_as_current_span("child"):
        pass
    orphan_ctx = trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(
        0xABC, 0xDEF, is_remote=True, trace_flags=trace.TraceFlags(1))))
    tracer.start_span("lost", context=orphan_ctx).end()  # a parent that was never exported
    provider.shutdown()
    spans = read_spans(tmp_path / "s.jsonl")
    stats = trace_stats(spans)
    assert stats["traces"] == 2 and stats["orphans"] == 1 and stats["roots_per_trace_max"] == 1
    root = next(s for s in spans if s["name"] == "root")
    child = next(s for s in spans if s["name"] == "child")
    assert child["parent_id"] == root["span_id"] and child["trace_id"] == root["trace_id"] and root["service"] == "t"


def test_cost_arithmetic_and_decode_split() -> None:
    assert usd(2.61, 0.17) == pytest.approx(1.2325e-4, abs=1e-12)
    shares = decode_shares([0.1, 0.2], [["a", "b"], ["a"]])
    assert shares == pytest.approx({"a": 0.25, "b": 0.05})
    c = RequestCost()
    c.add("decode", 3600.0)
    c.completion_tokens = 500
    assert c.total(0.34) == pytest.approx(0.34)
    assert c.per_1k_tokens(0.34) == pytest.approx(0.68)
    with pytest.raises(KeyError):
        c.add("gpu", 1.0)
