"""The serving stack's Prometheus metrics on prometheus-client: RED (requests by status, duration),
per-stage latency, tokens, time to first token, cost, and two gauges read at scrape time.

One `ServingMetrics` per app, each on its own CollectorRegistry (no global state), so a lab can
run several apps and read each one's exposition. Bucket maths for percentiles stays ours
(engine.systems.observability.metrics.histogram_quantile), as histogram_quantile() does it in PromQL.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from engine.systems.observability.metrics import histogram_quantile

disable_created_metrics()  # the *_created series double every family and nothing here reads them

LLM_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
COST_BUCKETS_USD = (1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3)
STAGES = ("queue", "prefill", "decode")


class ServingMetrics:
    def __init__(self, queue_depth: Callable[[], float], kv_slots_in_use: Callable[[], float],
                 model: str = "mini-gpt") -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.model = model
        self.requests = Counter("lynx_requests", "HTTP requests", ("endpoint", "method", "status"), registry=r)
        self.duration = Histogram("lynx_request_duration_seconds", "request latency", ("endpoint",),
                                  buckets=LLM_BUCKETS_S, registry=r)
        self.stage = Histogram("lynx_stage_duration_seconds", "time per serving stage", ("stage",),
                               buckets=LLM_BUCKETS_S, registry=r)
        self.tokens = Counter("lynx_tokens", "tokens processed", ("kind", "model"), registry=r)
        self.ttft = Histogram("lynx_time_to_first_token_seconds", "time to first token", buckets=LLM_BUCKETS_S,
                              registry=r)
        self.cost = Histogram("lynx_request_cost_usd", "compute cost per request", buckets=COST_BUCKETS_USD,
                              registry=r)
        Gauge("lynx_queue_depth", "requests waiting", registry=r).set_function(queue_depth)
        Gauge("lynx_kv_slots_in_use", "KV-cache slots in use", registry=r).set_function(kv_slots_in_use)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def cumulative_buckets(histogram: Histogram, **labels: str) -> tuple[list[float], list[float]]:
    """(finite upper bounds, cumulative le-counts with +Inf last) of one histogram series."""
    want = {k: str(v) for k, v in labels.items()}
    rows = []
    for metric in histogram.collect():
        for s in metric.samples:
            if s.name.endswith("_bucket") and {k: v for k, v in s.labels.items() if k != "le"} == want:
                rows.append((float(s.labels["le"]), s.value))
    rows.sort()
    return [b for b, _ in rows[:-1]], [c for _, c in rows]


def quantile(histogram: Histogram, q: float, **labels: str) -> float:
    return histogram_quantile(q, *cumulative_buckets(histogram, **labels))


def families(text: str) -> dict[str, str]:
    """Metric family name -> type, parsed back from the exposition text."""
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def samples(text: str) -> dict[str, float]:
    """'name{label="v",...}' -> value, for every sample in the exposition text."""
    out = {}
    for f in text_string_to_metric_families(text):
        for s in f.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[s.name + ("{" + labels + "}" if labels else "")] = s.value
    return out


def quantile_by_bisection(q: float, bounds: list[float], cumulative: list[float]) -> float:
    """PromQL's estimate found another way: the smallest x whose piecewise-linear bucket CDF
    (0 at 0, the le-count at each bound) reaches q x count, by bisection; past the last finite
    bound, that bound."""
    edges, counts = np.array([0.0, *bounds]), np.array([0.0, *cumulative[:-1]])
    rank = q * cumulative[-1]
    if rank > counts[-1]:
        return float(bounds[-1])
    lo, hi = 0.0, float(bounds[-1])
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        lo, hi = (lo, mid) if np.interp(mid, edges, counts) >= rank else (mid, hi)
    return hi


def estimates_vs_exact(histogram: Histogram, exact_values: np.ndarray, qs: tuple[float, ...],
                       **labels: str) -> list[dict[str, float | bool]]:
    """For each q: the histogram's estimate, the exact quantile of the observed values, whether the
    estimate lies in the bucket that holds the exact value, and its gap to `quantile_by_bisection`."""
    finite, cum = cumulative_buckets(histogram, **labels)
    bounds = (0.0, *finite)
    rows: list[dict[str, float | bool]] = []
    for q in qs:
        est = quantile(histogram, q, **labels)
        exact = float(np.quantile(exact_values, q))
        k = int(np.searchsorted(bounds, exact))  # bucket (bounds[k-1], bounds[k]]
        lo, hi = bounds[k - 1], bounds[min(k, len(bounds) - 1)]
        rows.append({"q": q, "estimate": est, "exact": exact, "in_exact_bucket": bool(lo <= est <= hi),
                     "bisection_gap": abs(est - quantile_by_bisection(q, finite, cum))})
    return rows


def full_bucket_probe_error(bounds: list[float]) -> float:
    """The estimate against bisection on a histogram with every bucket in use (the first and +Inf too)."""
    probe = Histogram("lynx_probe_seconds", "bucket maths probe", buckets=bounds, registry=CollectorRegistry())
    for v in np.geomspace(1e-3, 2 * bounds[-1], 300):
        probe.observe(float(v))
    pb, pc = cumulative_buckets(probe)
    return max(abs(quantile(probe, q) - quantile_by_bisection(q, pb, pc))
               for q in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999))
