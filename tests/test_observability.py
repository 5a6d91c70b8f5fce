"""Unit tests of engine/observability: histogram percentiles, exposition format, span context across
asyncio tasks, log redaction, and cost arithmetic."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from engine.observability.cost import RequestCost, decode_shares, usd
from engine.observability.metrics import Counter, Gauge, Histogram, Registry, parse_samples, parse_types
from engine.observability.tracing import JsonLogger, Tracer, request_context


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    h = Histogram("x", "x", buckets=(1.0, 2.0, 4.0))
    for v in (0.5, 1.5, 1.5, 3.0):
        h.observe(v)
    assert h.quantile(0.25) == pytest.approx(1.0)  # rank 1 at the top of the first bucket
    assert h.quantile(0.5) == pytest.approx(1.5)  # rank 2 halfway through (1, 2]
    assert h.quantile(1.0) == pytest.approx(4.0)
    assert h.cumulative() == [1, 3, 4, 4]


def test_histogram_quantile_lands_in_the_exact_values_bucket() -> None:
    rng = np.random.default_rng(1)
    xs = rng.lognormal(0, 1, 5000)
    h = Histogram("x", "x")
    for v in xs:
        h.observe(float(v))
    bounds = (0.0, *h.bounds)
    for q in (0.5, 0.9, 0.99):
        exact = float(np.quantile(xs, q))
        k = int(np.searchsorted(bounds, exact))
        assert bounds[k - 1] <= h.quantile(q) <= bounds[k]


def test_exposition_round_trips_and_gauge_reads_at_scrape() -> None:
    r, box = Registry(), [1.0]
    c = r.register(Counter("req_total", "r", ("status",)))
    r.register(Gauge("depth", "d", lambda: box[0]))
    c.inc("200")
    c.inc("200", amount=2)
    box[0] = 7
    text = r.exposition()
    assert parse_types(text) == {"req_total": "counter", "depth": "gauge"}
    assert parse_samples(text) == {'req_total{status="200"}': 3.0, "depth": 7.0}
    with pytest.raises(ValueError):
        c.inc("200", amount=-1)
    with pytest.raises(ValueError):
        r.register(Counter("req_total", "again"))


def test_span_context_follows_async_tasks_and_logs_redact_user_text() -> None:
    tracer, log = Tracer({"service.name": "t"}), JsonLogger()

    async def one(rid: str) -> str:
        with request_context(rid), tracer.span("root") as root:
            await asyncio.sleep(0)
            with tracer.span("child"):
                await asyncio.sleep(0)
                log.log("info", "x", prompt="secret", n=1)
            return root.trace_id

    async def both() -> list[str]:
        return list(await asyncio.gather(one("a"), one("b")))

    ta, tb = asyncio.run(both())
    assert ta != tb
    recs = {r["request_id"]: r for r in log.records()}
    assert recs["a"]["trace_id"] == ta and recs["b"]["trace_id"] == tb
    assert all("prompt" not in r and r["n"] == 1 for r in recs.values())
    children = [s for s in tracer.finished if s.name == "child"]
    roots = {s.span_id: s for s in tracer.finished if s.name == "root"}
    assert all(roots[c.parent_id].trace_id == c.trace_id for c in children)


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
