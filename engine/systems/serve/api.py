"""The tutor service on FastAPI: POST /v1/grammar/correct, /healthz, /readyz, /metrics.

A request passes, in order: the body-size limit (413 from Content-Length before anything is read
or prefilled), the per-learner rate limit (429), the request model (422), the injection guard
(400 injection_blocked, phase 37's detector), tokenizing, the decode worker's queue, prefill,
decode and formatting. Every stage is an OpenTelemetry span under one root per request (9 in
all; 10 when the service has a retrieval index: `rag.retrieve`, phase 29's hybrid retriever and
extractive reader, whose chunk ids, scores and citations are the span's attributes and whose
citations come back as `cited_chunks`) carrying the request id (X-Request-Id in, or a fresh one; echoed with X-Trace-Id), every
request is counted and timed in Prometheus metrics, and one JSON log line per request carries
the same ids (never the sentence).

policy "inline" is the plain-def handler: the model runs in the request's threadpool thread,
one at a time under a lock. The others hand the job to engine.systems.serve.scheduler.DecodeWorker.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from pydantic import BaseModel, Field, ValidationError, field_validator

from engine.apps.security.guard import injection_detected
from engine.systems.observability.cost import usd
from engine.systems.observability.prom import ServingMetrics
from engine.systems.serve.lm import TutorLM
from engine.systems.serve.scheduler import DecodeWorker, Job

ROUTE = "/v1/grammar/correct"
POLICIES = ("inline", "sequential", "static", "continuous")


@dataclass(frozen=True)
class ServeConfig:
    policy: str = "continuous"
    slots: int = 8
    max_wait_ms: float = 10.0
    max_body_bytes: int = 2048
    rate_per_s: float = 0.0  # per learner; 0 turns the limit off
    rate_burst: int = 10
    usd_per_hour: float = 0.17
    log_path: str = ""
    log_request_id: bool = True  # False is phase 34's break: log lines lose their correlation id
    # The server process's GIL switch interval: the decode thread computes almost all the time, and
    # the event loop waits up to this long for the GIL each time it wakes (a request is several
    # wakes). Python's 5 ms default kept finished slots empty for steps; engine.systems.serve.run sets it.
    gil_switch_ms: float = 0.5
    # continuous: the most the decode loop waits per step for requests already inside a handler
    # (parsed, validated, tokenized) when slots are free; 0 turns the wait off
    admit_wait_ms: float = 2.0
    # uvicorn's limit_concurrency for the server process: connections and tasks beyond it get 503
    # at once (bounded load: the decode queue cannot grow without limit)
    max_concurrency: int = 128
    injection_filter: bool = True  # False is phase 39's break: the guard span runs but blocks nothing


class CorrectRequest(BaseModel):
    """The one request model of the tutor endpoint (also engine.systems.serve.app's, phase 33 lab-01)."""

    sentence: str = Field(min_length=1, max_length=500)
    learner_id: str = Field(default="anonymous", max_length=64)
    max_new_tokens: int | None = Field(default=None, ge=1, le=256)
    # decode exactly max_new_tokens even past the end of the reply (vLLM's ignore_eos): what a
    # throughput benchmark sends so decode lengths are its own, not the model's; the text still ends at EOS
    ignore_eos: bool = False

    @field_validator("sentence")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


class TokenBuckets:
    """One bucket per key: `rate` tokens a second up to `burst`; a request takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= 1.0
            self._state[key] = (tokens - 1.0 if ok else tokens, now)
        return ok


class Service:
    """The model, its worker and the per-app observability objects behind one FastAPI app."""

    def __init__(self, lm: TutorLM | None, cfg: ServeConfig, provider: Any, model_name: str = "mini-gpt",
                 index: Any = None) -> None:
        if cfg.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {cfg.policy!r}")
        self.lm: TutorLM | None = None
        self.cfg, self.model_name = cfg, model_name
        self.worker: DecodeWorker | None = None
        self._inline_lock = threading.Lock()
        self.inline_forwards = [0]
        self.inflight = 0
        self.arriving = 0  # requests inside the handler that have not reached the decode worker yet
        self.fail_next = False  # lets a lab provoke the 500 path
        self.metrics = ServingMetrics(lambda: self.worker.queue_depth() if self.worker else 0.0,
                                      lambda: float(self.inflight), model_name)
        self.index = index  # engine.apps.rag.pipeline.RAGPipeline or None
        self.provider = provider
        self.tracer = provider.get_tracer("lynx.serve")
        self.buckets = TokenBuckets(cfg.rate_per_s, cfg.rate_burst)
        self._log_lock = threading.Lock()
        if lm is not None:
            self.attach(lm)

    @property
    def ready(self) -> bool:
        return self.lm is not None

    def attach(self, lm: TutorLM) -> None:
        """Load the model (what the app's lifespan does); until then /readyz and POSTs answer 503."""
        if self.cfg.policy != "inline":
            self.worker = DecodeWorker(lm, "sequential" if self.cfg.policy == "sequential" else self.cfg.policy,
                                       self.cfg.slots, self.cfg.max_wait_ms, lambda: self.arriving,
                                       self.cfg.admit_wait_ms)
        self.lm = lm

    def counters(self) -> dict[str, Any]:
        if self.worker:
            return self.worker.counters.snapshot()
        return {"forward_calls": self.inline_forwards[0]}

    def _inline(self, prompt: list[int], n: int, ignore_eos: bool = False) -> Job:
        job = Job(prompt, n)
        with self._inline_lock:
            job.admitted = job.prefilled = time.perf_counter()
            job.tokens = self.lm.decode_alone(prompt, self.inline_forwards, n, () if ignore_eos else None)
        job.finished = time.perf_counter()
        return job

    async def decode(self, prompt: list[int], n: int, ignore_eos: bool = False) -> Job:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model failure (injected)")
        if self.worker is None:
            return await run_in_threadpool(self._inline, prompt, n, ignore_eos)
        return await asyncio.wrap_future(self.worker.submit(prompt, n, ignore_eos))

    def log(self, record: dict[str, Any]) -> None:
        if not self.cfg.log_path:
            return
        if not self.cfg.log_request_id:
            record = {k: v for k, v in record.items() if k != "request_id"}
        line = json.dumps({"ts": round(time.time(), 6), **record}, sort_keys=True)
        with self._log_lock, Path(self.cfg.log_path).open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def close(self) -> None:
        if self.worker:
            self.worker.close()
        self.provider.shutdown()  # flushes the span exporter


def _ns(perf: float, anchor_perf: float, anchor_ns: int) -> int:
    """A perf_counter reading as epoch nanoseconds (spans need wall time; stages are timed by perf)."""
    return anchor_ns + int((perf - anchor_perf) * 1e9)


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="Lynx tutor", docs_url=None, redoc_url=None)
    app.state.service = service
    m, tracer = service.metrics, service.tracer

    def reply(status: int, body: dict[str, Any], rid: str, trace_id: str, t0: float, endpoint: str = ROUTE) -> JSONResponse:
        m.requests.labels(endpoint, "POST", str(status)).inc()
        m.duration.labels(endpoint).observe(time.perf_counter() - t0)
        return JSONResponse(body, status, headers={"X-Request-Id": rid, "X-Trace-Id": trace_id})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        m.requests.labels("/healthz", "GET", "200").inc()
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        body = {"ready": service.ready, "policy": service.cfg.policy, "model": service.model_name}
        return JSONResponse(body, 200 if service.ready else 503)

    @app.get("/v1/stats")
    def stats() -> dict[str, Any]:
        """The decode worker's counted work (forward calls, tokens, batch sizes)."""
        return service.counters()

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(m.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post(ROUTE)
    async def correct(request: Request) -> JSONResponse:
        service.arriving += 1  # the event loop is the only writer; the decode worker only reads
        request.state.arriving = True
        try:
            return await _correct(request)
        finally:
            if request.state.arriving:
                service.arriving -= 1

    async def _correct(request: Request) -> JSONResponse:
        t0, t0_ns = time.perf_counter(), time.time_ns()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        with tracer.start_as_current_span("POST " + ROUTE, kind=trace.SpanKind.SERVER,
                                          attributes={"http.method": "POST", "http.route": ROUTE,
                                                      "request.id": rid}) as root:
            tid = f"{root.get_span_context().trace_id:032x}"

            def fail(status: int, error: str, detail: str = "") -> JSONResponse:
                root.set_attribute("http.status_code", status)
                root.set_status(trace.Status(trace.StatusCode.ERROR, error))
                service.log({"level": "warning", "event": "request.rejected", "request_id": rid, "trace_id": tid,
                             "status": status, "error": error})
                return reply(status, {"error": error, "detail": detail, "request_id": rid}, rid, tid, t0)

            with tracer.start_as_current_span("admission", attributes={"request.id": rid}) as s:
                size = int(request.headers.get("content-length") or 0)
                s.set_attribute("http.request.body.size", size)
                if size > service.cfg.max_body_bytes:
                    return fail(413, "body_too_large", f"at most {service.cfg.max_body_bytes} bytes")
                raw = await request.body()
                if len(raw) > service.cfg.max_body_bytes:
                    return fail(413, "body_too_large", f"at most {service.cfg.max_body_bytes} bytes")
            with tracer.start_as_current_span("validate", attributes={"request.id": rid}):
                try:
                    req = CorrectRequest.model_validate_json(raw)
                except ValidationError as e:
                    return fail(422, "invalid_request", e.errors(include_url=False, include_input=False)[0]["msg"])
            if not service.ready:
                return fail(503, "not_ready", "the model is still loading")
            if not service.buckets.allow(req.learner_id):
                return fail(429, "rate_limited", f"at most {service.cfg.rate_per_s:g} requests/s per learner")
            with tracer.start_as_current_span("guard.injection", attributes={"request.id": rid}) as s:
                blocked = service.cfg.injection_filter and injection_detected(req.sentence)
                s.set_attribute("guard.blocked", blocked)
                if blocked:
                    return fail(400, "injection_blocked", "the sentence reads as an instruction to the model")
            cited: list[str] | None = None
            if service.index is not None:
                with tracer.start_as_current_span("rag.retrieve", attributes={"request.id": rid}) as s:
                    found = service.index.answer(req.sentence)
                    cited = list(found["cited_chunks"])
                    hits = found["retrieved"]
                    s.set_attributes({"rag.k": service.index.k, "rag.hits": len(hits),
                                      "rag.chunk_ids": [h["chunk_id"] for h in hits],
                                      "rag.scores": [float(h["score"]) for h in hits],
                                      "rag.top_score": float(hits[0]["score"]) if hits else 0.0,
                                      "rag.cited": cited})
            with tracer.start_as_current_span("tokenize", attributes={"request.id": rid}) as s:
                prompt = service.lm.prompt_ids(req.sentence)
                s.set_attribute("tokens.in", len(prompt))
            n = min(req.max_new_tokens or service.lm.max_new, service.lm.max_new)
            service.inflight += 1
            request.state.arriving = False
            service.arriving -= 1
            try:
                job = await service.decode(prompt, n, req.ignore_eos)
            except Exception as e:  # noqa: BLE001 - any model failure is a 500 with the request id
                return fail(500, "internal_error", type(e).__name__)
            finally:
                service.inflight -= 1
            stages = {"queue": (job.submitted, job.admitted), "prefill": (job.admitted, job.prefilled),
                      "decode": (job.prefilled, job.finished)}
            for name, (a, b) in stages.items():  # timed in the worker thread; recorded here, under the root
                span = tracer.start_span(name, start_time=_ns(a, t0, t0_ns),
                                         attributes={"request.id": rid, "policy": service.cfg.policy})
                if name == "decode":
                    span.set_attribute("tokens.out", len(job.tokens))
                span.end(end_time=_ns(max(a, b), t0, t0_ns))
                m.stage.labels(name).observe(max(0.0, b - a))
            with tracer.start_as_current_span("format", attributes={"request.id": rid}):
                shown = job.tokens
                if req.ignore_eos and service.lm.stop:  # the reply is what came before the first stop id
                    shown = next((shown[:i] for i, t in enumerate(shown) if t in service.lm.stop), shown)
                text = service.lm.text(shown)
                compute_s = job.finished - job.admitted
                cost = usd(compute_s, service.cfg.usd_per_hour)
                body = {"request_id": rid, "completion": text, "tokens": len(job.tokens), "model": service.model_name,
                        "policy": service.cfg.policy}
                if cited is not None:
                    body["cited_chunks"] = cited
            m.tokens.labels("prompt", service.model_name).inc(len(prompt))
            m.tokens.labels("completion", service.model_name).inc(len(job.tokens))
            m.ttft.observe(max(0.0, job.prefilled - t0))
            m.cost.observe(cost)
            root.set_attribute("http.status_code", 200)
            root.set_attribute("cost.usd", cost)
            service.log({"level": "info", "event": "request.done", "request_id": rid, "trace_id": tid, "status": 200,
                         "tokens_in": len(prompt), "tokens_out": len(job.tokens), "cost_usd": cost,
                         "latency_s": round(time.perf_counter() - t0, 6)})
            return reply(200, body, rid, tid, t0)

    return app
