"""Phase 34 labs: the Phase 33 tutor made observable. Six metrics on one registry (lab-01), a span
tree per request with JSON logs that share its trace id (lab-02), and cost per request priced at an
hourly rate, with Little's law for capacity and the egress estimate (lab-03).

Fault `no_request_id` (the phase's break): the JSON log formatter stops writing request_id.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

from engine.core.run import Recorder
from engine.lm.train.data import load_corpus
from engine.systems.observability.cost import RequestCost, decode_shares, usd
from engine.systems.observability.metrics import histogram_quantile
from engine.systems.observability.otel import read_spans, trace_stats, tracer_provider
from engine.systems.observability.prom import (
    cumulative_buckets,
    estimates_vs_exact,
    families,
    full_bucket_probe_error,
    quantile,
)
from engine.systems.observability.prom import samples as parse_samples
from engine.systems.observability.promserver import PrometheusProcess
from engine.systems.serve.api import ROUTE, ServeConfig, Service, create_app
from engine.systems.serve.app import TutorApp
from engine.systems.serve.client import Reply, closed_loop, request
from engine.systems.serve.lm import TutorLM
from engine.systems.serve.observed import ObservedApp, drive
from engine.systems.serve.styles import style_app
from engine.systems.serve.tutor import Tutor
from engine.systems.serve.uv import UvicornThread

FAULT = "no_request_id"


def _sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = [e.text for e in load_corpus()]
    return [texts[i] if k % 2 == 0 else texts[i][:-1] for k, i in enumerate(rng.integers(len(texts), size=n))]


# ---------------------------------------------------------------------- lab 00: Prometheus
PANELS = {  # the course's dashboard, as PromQL over the tutor's metrics (5 s windows at a 1 s scrape)
    "request_rate": 'sum by (status) (rate(lynx_requests_total{endpoint="/v1/grammar/correct"}[5s]))',
    "latency_p50": 'histogram_quantile(0.5, sum by (le) (rate(lynx_request_duration_seconds_bucket[5s])))',
    "latency_p95": 'histogram_quantile(0.95, sum by (le) (rate(lynx_request_duration_seconds_bucket[5s])))',
    "ttft_p95": 'histogram_quantile(0.95, sum by (le) (rate(lynx_time_to_first_token_seconds_bucket[5s])))',
    "tokens_per_s": 'sum(rate(lynx_tokens_total{kind="completion"}[5s]))',
    "queue_depth": "max(lynx_queue_depth)",
    "kv_slots_in_use": "max(lynx_kv_slots_in_use)",
    "cost_usd_per_s": "sum(rate(lynx_request_cost_usd_sum[5s]))",
}


def prometheus_stack(cfg: dict, rec: Recorder) -> dict:
    """The tutor app scraped by a real Prometheus on 127.0.0.1; the dashboard's panels are PromQL
    range queries over the load, drawn through the lab's charts."""
    m = cfg["model"]
    lm = TutorLM.build(seed=int(cfg["seed"]), max_new_tokens=int(m["max_new_tokens"]), d_model=int(m["d_model"]),
                       n_layers=int(m["n_layers"]), context_len=int(m["context_len"]))
    spans_dir = tempfile.TemporaryDirectory()  # traces are lab-02's subject; here they are not kept
    service = Service(lm, ServeConfig(policy="continuous"), tracer_provider(f"{spans_dir.name}/spans.jsonl", "tutor"))
    scrape = float(cfg["scrape_s"])
    texts = _sentences(int(cfg["max_requests"]), cfg["seed"])
    every = int(cfg["bad_every"])  # one invalid request in `every`, so the status panel has two series
    payloads = [{"sentence": "" if i % every == every - 1 else t, "learner_id": f"l{i % 4}"} for i, t in enumerate(texts)]
    try:
        with UvicornThread(create_app(service)) as srv, \
                PrometheusProcess({"tutor": f"127.0.0.1:{srv.port}"}, rec.out_dir / "prometheus", scrape) as prom:
            prom.wait_for_scrapes("tutor", 2)
            t_start = time.time()
            res, _ = closed_loop(srv.port, ROUTE, payloads, int(cfg["concurrency"]), budget_s=float(cfg["load_s"]))
            prom.wait_for_scrapes("tutor", int(cfg["tail_scrapes"]))
            t_end = time.time()
            up = prom.query("up")
            count = prom.query('sum(lynx_requests_total{endpoint="/v1/grammar/correct",status="200"})')
            p95_prom = prom.query('histogram_quantile(0.95, sum by (le) '
                                  '(lynx_request_duration_seconds_bucket{endpoint="/v1/grammar/correct"}))')
            panels = {name: prom.query_range(q, t_start - 2 * scrape, t_end, scrape) for name, q in PANELS.items()}
            ours = histogram_quantile(0.95, *cumulative_buckets(service.metrics.duration, endpoint=ROUTE))
    finally:
        service.close()
        spans_dir.cleanup()
    with_data, k = 0, 0
    for name, series in panels.items():
        points = 0
        for srs in series:
            label = srs["metric"].get("status", name)
            for t, v in srs["values"]:
                if v not in ("NaN", "+Inf", "-Inf"):
                    rec.log(k, stage=name, t_s=float(t) - t_start, value=float(v), series=label)
                    points, k = points + 1, k + 1
        with_data += points >= 2
    ok_sent = sum(x.status == 200 for x in res)
    p95 = float(p95_prom[0]["value"][1]) if p95_prom else float("nan")
    return {"requests_sent": len(res), "scrape_targets_up": sum(float(u["value"][1]) == 1.0 for u in up),
            "targets": sorted(u["metric"]["job"] for u in up),
            "requests_ok_sent": ok_sent, "promql_requests_ok": float(count[0]["value"][1]) if count else 0.0,
            "promql_count_matches": bool(count) and float(count[0]["value"][1]) == ok_sent,
            "promql_p95_s": p95, "our_p95_s": ours, "p95_abs_diff_s": abs(p95 - ours),
            "panels": len(PANELS), "panels_with_data": with_data}


# ---------------------------------------------------------------------- lab 01: metrics
def instrument(cfg: dict, rec: Recorder) -> dict:
    rng = np.random.default_rng(cfg["seed"])
    tutor = Tutor(service_ms=0.0)
    tutor.load()
    queue, kv = [0], [0]
    app = ObservedApp(TutorApp(tutor), queue, kv)
    n = int(cfg["requests"])
    lat, bad = drive(app, rng, _sentences(n, cfg["seed"]), queue, kv,
                     lambda i, s, status: rec.log(i, stage="request", latency_s=s, status=status))
    app.handle("GET", "/healthz", b"", 0.01)
    queue[0], kv[0] = 3, 17
    status, text = app.handle("GET", "/metrics", b"", 0.0)
    types = families(text)
    samples = parse_samples(text)
    out: dict[str, Any] = {
        "metrics_status": status,
        "metric_families": len(types),
        "metric_names": sorted(types),
        "summary_metrics": sum(t == "summary" for t in types.values()),
        "request_total_status_200": samples.get('lynx_requests_total{endpoint="/correct",method="POST",status="200"}', 0.0),
        "request_total_status_422": samples.get('lynx_requests_total{endpoint="/correct",method="POST",status="422"}', 0.0),
        "gauge_reads_at_scrape": samples.get("lynx_queue_depth") == 3 and samples.get("lynx_kv_slots_in_use") == 17,
    }
    # Percentiles from buckets vs exact: the estimate must fall in the bucket that holds the exact value.
    ok_lat = np.array([lat[i] for i in range(n) if i not in bad])
    rows = estimates_vs_exact(app.m.duration, ok_lat, (0.5, 0.95, 0.99), endpoint="/correct")
    for r in rows:
        tag = f"p{int(r['q'] * 100)}"
        out[f"{tag}_from_histogram_s"], out[f"{tag}_exact_s"] = r["estimate"], r["exact"]
        out[f"{tag}_in_exact_bucket"] = r["in_exact_bucket"]
        rec.log(int(r["q"] * 100), stage="quantile", q=r["q"], histogram_s=r["estimate"], exact_s=r["exact"])
    finite, _ = cumulative_buckets(app.m.duration, endpoint="/correct")
    out["quantile_vs_bisection_max_abs_s"] = max(max(float(r["bisection_gap"]) for r in rows),
                                                 full_bucket_probe_error(finite))
    return out


# ---------------------------------------------------------------------- lab 02: tracing
SPAN_NAMES = ("POST /v1/grammar/correct", "admission", "validate", "guard.injection", "tokenize", "queue", "prefill",
              "decode", "format")


async def _concurrent(port: int, sentences: list[str]) -> list[Reply]:
    return list(await asyncio.gather(*(request(port, "POST", ROUTE, {"sentence": s, "learner_id": f"l{i % 3}"},
                                               headers={"X-Request-Id": f"req-{i:04d}"}, timeout_s=120)
                                       for i, s in enumerate(sentences))))


def tracing(cfg: dict, rec: Recorder) -> dict:
    """Concurrent requests against the FastAPI app; spans read back from the OTel JSONL export,
    logs from the app's JSON log, both joined on the request id."""
    spans_path, log_path = rec.out_dir / "spans.jsonl", rec.out_dir / "app.log.jsonl"
    m = cfg["model"]
    lm = TutorLM.build(seed=int(cfg["seed"]), max_new_tokens=int(m["max_new_tokens"]), d_model=int(m["d_model"]),
                       n_layers=int(m["n_layers"]), context_len=int(m["context_len"]))
    scfg = ServeConfig(policy="continuous", slots=int(cfg["slots"]), log_path=str(log_path),
                       log_request_id=cfg.get("fault") != FAULT)
    service = Service(lm, scfg, tracer_provider(spans_path, "lynx-tutor", version="git-local", environment="lab"))
    sentences = _sentences(int(cfg["concurrent"]), cfg["seed"])
    try:
        with UvicornThread(create_app(service)) as srv:
            replies = asyncio.run(_concurrent(srv.port, sentences))
    finally:
        service.close()  # flushes the span exporter
    spans, logs = read_spans(spans_path), [json.loads(x) for x in log_path.read_text().splitlines()]
    stats = trace_stats(spans)
    share = True
    for i, r in enumerate(replies):
        rid, tid = f"req-{i:04d}", r.headers.get("x-trace-id", "")
        mine = [x for x in logs if x.get("request_id") == rid]
        tagged = [s for s in spans if s["attributes"].get("request.id") == rid]
        share &= (r.status == 200 and len(mine) == 1 and mine[0]["trace_id"] == tid and len(tagged) == 9
                  and all(s["trace_id"] == tid for s in tagged))
    roots = sorted((s["start_ns"], s["end_ns"]) for s in spans if s["parent_id"] is None)
    overlapping = sum(b[0] < a[1] for a, b in zip(roots, roots[1:], strict=False))  # a request began before the previous ended
    by_trace: dict[str, int] = {}
    for s in spans:
        by_trace[s["trace_id"]] = by_trace.get(s["trace_id"], 0) + 1
    for i, n in enumerate(by_trace.values()):
        rec.log(i, stage="trace", spans=n)
    decode = next(s for s in spans if s["name"] == "decode")
    names = sorted({s["name"] for s in spans})
    text = log_path.read_text()
    return {
        "requests": len(replies), "ok": sum(r.status == 200 for r in replies),
        "span_count": stats["spans_per_trace_min"], "span_count_max": stats["spans_per_trace_max"],
        "span_names": names, "orphan_spans": stats["orphans"], "roots_per_trace": stats["roots_per_trace_max"],
        "all_stages_traced": set(SPAN_NAMES) == set(names),
        "decode_attributes": sorted(decode["attributes"]),
        "service_name": spans[0]["service"],
        "logs_share_trace_id": bool(share),
        "log_lines": len(logs),
        "log_lines_with_request_id": sum("request_id" in x for x in logs),
        "overlapping_requests": overlapping,
        "redacted_keys_leaked": sum(k in x for x in logs for k in ("prompt", "completion", "messages", "text", "sentence"))
        + sum(s in text for s in sentences),
        "trace_id_header_present": all(len(r.headers.get("x-trace-id", "")) == 32 for r in replies),
    }


# ---------------------------------------------------------------------- lab 03: cost and capacity
def _workload(n: int, seed: int, batch: int) -> list[RequestCost]:
    """Simulated clock: retrieval and prefill per request; decode in shared steps of a continuous batch."""
    rng = np.random.default_rng(seed)
    costs = [RequestCost() for _ in range(n)]
    out_tokens = rng.integers(8, 120, size=n)
    for i, c in enumerate(costs):
        c.add("retrieve", float(rng.uniform(0.02, 0.12)))
        c.add("prefill", 0.002 * float(rng.integers(20, 400)))
        c.add("other", 0.003)
        c.completion_tokens = int(out_tokens[i])
    left = {f"r{i}": int(t) for i, t in enumerate(out_tokens)}
    waiting = list(left)
    active: list[str] = []
    steps: list[float] = []
    groups: list[list[str]] = []
    while waiting or active:
        while waiting and len(active) < batch:
            active.append(waiting.pop(0))
        steps.append(0.015 + 0.002 * len(active))  # a step costs a fixed part plus a per-sequence part
        groups.append(list(active))
        for rid in active:
            left[rid] -= 1
        active = [r for r in active if left[r] > 0]
    for rid, sec in decode_shares(steps, groups).items():
        costs[int(rid[1:])].add("decode", sec)
    assert abs(sum(c.seconds["decode"] for c in costs) - sum(steps)) < 1e-9
    return costs


def _littles_law(n: int, seed: int, rate_rps: float, service_s: float, servers: int) -> tuple[float, float, float]:
    """A FIFO queue with `servers` workers on a simulated clock: time-average in system vs lambda * W."""
    rng = np.random.default_rng(seed + 1)
    arrivals = np.cumsum(rng.exponential(1 / rate_rps, size=n))
    free = [0.0] * servers
    done = np.empty(n)
    for i, a in enumerate(arrivals):
        k = int(np.argmin(free))
        start = max(a, free[k])
        free[k] = done[i] = start + rng.exponential(service_s)
    t_end = float(done.max())
    lam = n / t_end
    w = float((done - arrivals).mean())
    # L: integrate the number in system over [0, t_end] from the +1/-1 events.
    ev = sorted([(float(a), 1) for a in arrivals] + [(float(d), -1) for d in done])
    area, inside, last = 0.0, 0, 0.0
    for t, d in ev:
        area += inside * (t - last)
        inside, last = inside + d, t
    return area / t_end, lam, w


def cost_tracker(cfg: dict, rec: Recorder) -> dict:
    costs = _workload(int(cfg["requests"]), cfg["seed"], int(cfg["batch"]))
    rates = [float(r) for r in cfg["rates_usd_per_hour"]]
    means = {}
    for r in rates:
        totals = np.array([c.total(r) for c in costs])
        means[r] = float(totals.mean())
        rec.log(int(r * 1000), stage="calibration", rate_usd_per_hour=r, mean_cost_usd=means[r])
    base = float(cfg["default_rate_usd_per_hour"])
    reg = CollectorRegistry()
    per_req = Histogram("lynx_cost_per_request_usd", "cost per request", buckets=[1e-7 * 2**k for k in range(16)],
                        registry=reg)
    per_1k = Histogram("lynx_cost_per_1k_tokens_usd", "cost per 1k completion tokens",
                       buckets=[1e-6 * 2**k for k in range(16)], registry=reg)
    for c in costs:
        per_req.observe(c.total(base))
        per_1k.observe(c.per_1k_tokens(base))
    stage_share = {k: sum(c.seconds[k] for c in costs) for k in costs[0].seconds}
    total_s = sum(stage_share.values())
    L, lam, W = _littles_law(int(cfg["queue_requests"]), cfg["seed"], float(cfg["arrival_rps"]), float(cfg["service_s"]), int(cfg["servers"]))
    # Peak request rate of the real HTTP server on 127.0.0.1 (a timing: reported, not enforced).
    tutor = Tutor(service_ms=float(cfg["service_ms"]))
    tutor.load()
    with UvicornThread(style_app(TutorApp(tutor), "to_thread", int(cfg["concurrency"]))) as srv:
        payloads = [{"sentence": s} for s in _sentences(int(cfg["load_requests"]), cfg["seed"])]
        samples, wall = closed_loop(srv.port, "/correct", payloads, int(cfg["concurrency"]))
        res = [(x.latency_s, x.status) for x in samples]
        rps = len(res) / wall
    learners, req_per_day, bytes_per_req = 10_000, 100, 24 * 6  # 24 streamed tokens x ~6 bytes
    out = {
        "mean_cost_usd": means[base],
        "cost_ratio_double_rate": means[rates[2]] / means[rates[1]] if len(rates) > 2 else float("nan"),
        "cost_ratio_quadruple_rate": means[rates[2]] / means[rates[0]] if len(rates) > 2 else float("nan"),
        "worked_example_cost_usd": usd(2.61, 0.17),
        "cost_per_request_p95_usd": quantile(per_req, 0.95),
        "cost_per_1k_tokens_mean_usd": float(np.mean([c.per_1k_tokens(base) for c in costs])),
        "cost_per_1k_tokens_p95_usd": quantile(per_1k, 0.95),
        "cost_per_1k_alert_fires": quantile(per_1k, 0.95) > 0.05,
        "decode_share": stage_share["decode"] / total_s,
        "retrieve_share": stage_share["retrieve"] / total_s,
        "little_L": L, "little_lambda_w": lam * W,
        "little_rel_err": abs(L - lam * W) / (lam * W),
        "egress_mb_per_day": learners * req_per_day * bytes_per_req / 1e6,
        "rps_peak": rps, "load_ok_rate": sum(s == 200 for _, s in res) / len(res),
    }
    return out
