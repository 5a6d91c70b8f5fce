"""Phase 34 labs: the Phase 33 tutor made observable. Six metrics on one registry (lab-01), a span
tree per request with JSON logs that share its trace id (lab-02), and cost per request priced at an
hourly rate, with Little's law for capacity and the egress estimate (lab-03).

Fault `no_request_id` (the phase's break): the JSON log formatter stops writing request_id.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np

from engine.observability.cost import RequestCost, decode_shares, usd
from engine.observability.metrics import Counter, Gauge, Histogram, Registry, parse_samples, parse_types
from engine.observability.tracing import JsonLogger, Tracer, request_context
from engine.run import Recorder
from engine.serve.app import TutorApp
from engine.serve.http import Server
from engine.serve.loadgen import run_load
from engine.serve.tutor import Tutor
from engine.train.data import load_corpus

FAULT = "no_request_id"


def _sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = [e.text for e in load_corpus()]
    return [texts[i] if k % 2 == 0 else texts[i][:-1] for k, i in enumerate(rng.integers(len(texts), size=n))]


# ---------------------------------------------------------------------- lab 01: metrics
class ObservedApp:
    """TutorApp plus exactly six metric families and a /metrics route."""

    def __init__(self, app: TutorApp, queue_depth: list[int], kv_slots: list[int]) -> None:
        self.app, self.registry = app, Registry()
        r = self.registry
        self.requests = r.register(Counter("lynx_requests_total", "HTTP requests", ("endpoint", "method", "status")))
        self.duration = r.register(Histogram("lynx_request_duration_seconds", "request latency", ("endpoint",)))
        self.tokens = r.register(Counter("lynx_tokens_total", "tokens processed", ("kind", "model")))
        self.ttft = r.register(Histogram("lynx_time_to_first_token_seconds", "time to first token"))
        r.register(Gauge("lynx_kv_slots_in_use", "KV-cache slots in use", lambda: kv_slots[0]))
        r.register(Gauge("lynx_queue_depth", "requests waiting", lambda: queue_depth[0]))

    def record(self, endpoint: str, method: str, status: int, seconds: float, prompt_tokens: int = 0,
               completion_tokens: int = 0, ttft_s: float | None = None) -> None:
        self.requests.inc(endpoint, method, str(status))
        self.duration.observe(seconds, endpoint)
        if prompt_tokens:
            self.tokens.inc("prompt", "tutor", amount=prompt_tokens)
        if completion_tokens:
            self.tokens.inc("completion", "tutor", amount=completion_tokens)
        if ttft_s is not None:
            self.ttft.observe(ttft_s)

    def handle(self, method: str, path: str, body: bytes, clock: float) -> tuple[int, Any]:
        """Serve one request; `clock` is its simulated service time in seconds (the lab is deterministic)."""
        if (method, path) == ("GET", "/metrics"):
            return 200, self.registry.exposition()
        name = self.app.route(method, path)
        if name is None:
            status, out = 404, {"detail": "not found"}
        else:
            status, out = self.app.correct(body) if name == "correct" else getattr(self.app, name)()
        if name == "correct" and status == 200:
            p = len(json.loads(body)["sentence"].split())
            c = len(out["corrected"].split())
            self.record(path, method, status, clock, p, c, ttft_s=clock / (c + 1))
        else:
            self.record(path, method, status, clock / 10)
        return status, out


def instrument(cfg: dict, rec: Recorder) -> dict:
    rng = np.random.default_rng(cfg["seed"])
    tutor = Tutor(service_ms=0.0)
    tutor.load()
    queue, kv = [0], [0]
    app = ObservedApp(TutorApp(tutor), queue, kv)
    n = int(cfg["requests"])
    # Latencies drawn from a log-normal around 0.8 s: an LLM-like spread from 100 ms to several seconds.
    lat = rng.lognormal(np.log(0.8), 0.7, size=n)
    bodies = [json.dumps({"sentence": s}).encode() for s in _sentences(n, cfg["seed"])]
    bad = set(rng.choice(n, size=max(1, n // 20), replace=False).tolist())
    for i in range(n):
        body = b'{"sentence": ""}' if i in bad else bodies[i]
        queue[0], kv[0] = int(rng.integers(0, 8)), int(rng.integers(0, 32))
        status, _ = app.handle("POST", "/correct", body, float(lat[i]))
        rec.log(i, stage="request", latency_s=float(lat[i]), status=status)
    app.handle("GET", "/healthz", b"", 0.01)
    queue[0], kv[0] = 3, 17
    status, text = app.handle("GET", "/metrics", b"", 0.0)
    types = parse_types(text)
    samples = parse_samples(text)
    ok_lat = np.array([lat[i] for i in range(n) if i not in bad])
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
    bounds = (0.0, *app.duration.bounds)
    for q in (0.5, 0.95, 0.99):
        est = app.duration.quantile(q, "/correct")
        exact = float(np.quantile(ok_lat, q))
        k = int(np.searchsorted(bounds, exact))  # bucket (bounds[k-1], bounds[k]]
        lo, hi = bounds[k - 1], bounds[min(k, len(bounds) - 1)]
        tag = f"p{int(q * 100)}"
        out[f"{tag}_from_histogram_s"], out[f"{tag}_exact_s"] = est, exact
        out[f"{tag}_in_exact_bucket"] = bool(lo <= est <= hi)
        rec.log(int(q * 100), stage="quantile", q=q, histogram_s=est, exact_s=exact)
    return out


# ---------------------------------------------------------------------- lab 02: tracing
STAGES = ("tokenize", "retrieval.embed", "retrieval.search", "retrieval.rerank", "prefill", "decode", "format")


async def _traced_request(tracer: Tracer, log: JsonLogger, tutor: Tutor, rid: str, sentence: str,
                          index: np.ndarray, corpus: list[str]) -> dict[str, str]:
    with request_context(rid), tracer.span("POST /correct", **{"http.method": "POST", "http.route": "/correct"}) as root:
        log.log("info", "request.start", prompt=sentence, chars=len(sentence))
        with tracer.span("tokenize") as s:
            toks = sentence.split()
            s.attributes["tokens.in"] = len(toks)
        await asyncio.sleep(0)  # other requests' tasks run here: their logs interleave with ours
        with tracer.span("retrieval"):
            with tracer.span("retrieval.embed"):
                q = np.array([sum(map(ord, t)) % 97 for t in toks[:4]] + [0] * (4 - len(toks[:4])), dtype=float)
            await asyncio.sleep(0)
            with tracer.span("retrieval.search") as s:
                top = np.argsort(np.abs(index - q).sum(1))[:5]
                s.attributes["k"] = 5
            with tracer.span("retrieval.rerank"):
                best = min(top.tolist(), key=lambda i: abs(len(corpus[i]) - len(sentence)))
            log.log("info", "retrieval.done", hit=int(best), text=corpus[best])
        with tracer.span("prefill") as s:
            s.attributes["tokens.in"] = len(toks)
        await asyncio.sleep(0)
        with tracer.span("decode") as s:
            c = await asyncio.to_thread(tutor.correct, sentence)
            n = len(c.corrected.split())
            s.attributes.update({"tokens.out": n, "steps": n, "step_ms.mean": tutor.service_ms / max(n, 1),
                                 "stop_reason": "eos"})
        with tracer.span("format"):
            body = {"corrected": c.corrected, "was_correct": c.was_correct}
        log.log("info", "request.end", completion=c.corrected, status=200)
        return {"X-Trace-Id": root.trace_id, "X-Request-Id": rid, "body": json.dumps(body)}


async def _serve_all(tracer: Tracer, log: JsonLogger, tutor: Tutor, sentences: list[str]) -> list[dict[str, str]]:
    corpus = tutor.sentences
    rng = np.random.default_rng(0)
    index = rng.integers(0, 97, size=(len(corpus), 4)).astype(float)
    return list(await asyncio.gather(*(_traced_request(tracer, log, tutor, f"req-{i:04d}", s, index, corpus)
                                       for i, s in enumerate(sentences))))


def tracing(cfg: dict, rec: Recorder) -> dict:
    tutor = Tutor(service_ms=float(cfg["service_ms"]))
    tutor.load()
    counter = iter(f"{i:032x}" for i in range(1, 10**6))
    tracer = Tracer({"service.name": "lynx-tutor", "service.version": "git-local", "deployment.environment": "lab"}, ids=counter)
    log = JsonLogger(with_request_id=cfg.get("fault") != FAULT)
    sentences = _sentences(int(cfg["concurrent"]), cfg["seed"])
    responses = asyncio.run(_serve_all(tracer, log, tutor, sentences))
    records = log.records()
    by_trace: dict[str, list[Any]] = {}
    for s in tracer.finished:
        by_trace.setdefault(s.trace_id, []).append(s)
    # Correlation: filtering the interleaved log on one request id must return exactly that request's lines,
    # and all of them must carry the trace id that the response header announced.
    share = True
    for r in responses:
        mine = [x for x in records if x.get("request_id") == r["X-Request-Id"]]
        share &= len(mine) == 3 and all(x.get("trace_id") == r["X-Trace-Id"] for x in mine)
    interleaved = sum(records[i]["trace_id"] != records[i + 1]["trace_id"] for i in range(len(records) - 1))
    counts = [len(v) for v in by_trace.values()]
    for i, (_tid, spans) in enumerate(sorted(by_trace.items())):
        rec.log(i, stage="trace", spans=len(spans), depth=max(s.name.count(".") for s in spans) + 1)
    decode = next(s for s in tracer.finished if s.name == "decode")
    names = sorted({s.name for s in tracer.finished})
    return {
        "requests": len(responses),
        "span_count": min(counts),
        "span_names": names,
        "roots_per_trace": max(sum(s.parent_id is None for s in v) for v in by_trace.values()),
        "all_stages_traced": set(STAGES) <= set(names),
        "decode_attributes": sorted(decode.attributes),
        "logs_share_trace_id": bool(share),
        "log_lines": len(records),
        "log_lines_with_request_id": sum("request_id" in x for x in records),
        "log_lines_interleaved": interleaved,
        "redacted_keys_leaked": sum(k in x for x in records for k in ("prompt", "completion", "messages", "text")),
        "trace_id_header_present": all(len(r["X-Trace-Id"]) == 32 for r in responses),
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
    per_req = Histogram("lynx_cost_per_request_usd", "cost per request", buckets=[1e-7 * 2**k for k in range(16)])
    per_1k = Histogram("lynx_cost_per_1k_tokens_usd", "cost per 1k completion tokens", buckets=[1e-6 * 2**k for k in range(16)])
    for c in costs:
        per_req.observe(c.total(base))
        per_1k.observe(c.per_1k_tokens(base))
    stage_share = {k: sum(c.seconds[k] for c in costs) for k in costs[0].seconds}
    total_s = sum(stage_share.values())
    L, lam, W = _littles_law(int(cfg["queue_requests"]), cfg["seed"], float(cfg["arrival_rps"]), float(cfg["service_s"]), int(cfg["servers"]))
    # Peak request rate of the real HTTP server on 127.0.0.1 (a timing: reported, not enforced).
    tutor = Tutor(service_ms=float(cfg["service_ms"]))
    tutor.load()
    with Server(TutorApp(tutor), style="to_thread") as srv:
        payloads = [{"sentence": s} for s in _sentences(int(cfg["load_requests"]), cfg["seed"])]
        t0 = time.perf_counter()
        res = run_load(srv.port, payloads, int(cfg["concurrency"]))
        rps = len(res) / (time.perf_counter() - t0)
    learners, req_per_day, bytes_per_req = 10_000, 100, 24 * 6  # 24 streamed tokens x ~6 bytes
    out = {
        "mean_cost_usd": means[base],
        "cost_ratio_double_rate": means[rates[2]] / means[rates[1]] if len(rates) > 2 else float("nan"),
        "cost_ratio_quadruple_rate": means[rates[2]] / means[rates[0]] if len(rates) > 2 else float("nan"),
        "worked_example_cost_usd": usd(2.61, 0.17),
        "cost_per_request_p95_usd": per_req.quantile(0.95),
        "cost_per_1k_tokens_mean_usd": float(np.mean([c.per_1k_tokens(base) for c in costs])),
        "cost_per_1k_tokens_p95_usd": per_1k.quantile(0.95),
        "cost_per_1k_alert_fires": per_1k.quantile(0.95) > 0.05,
        "decode_share": stage_share["decode"] / total_s,
        "retrieve_share": stage_share["retrieve"] / total_s,
        "little_L": L, "little_lambda_w": lam * W,
        "little_rel_err": abs(L - lam * W) / (lam * W),
        "egress_mb_per_day": learners * req_per_day * bytes_per_req / 1e6,
        "rps_peak": rps, "load_ok_rate": sum(s == 200 for _, s in res) / len(res),
    }
    return out
