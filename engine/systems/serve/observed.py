"""A deterministic serving app with the stack's Prometheus metrics, driven by simulated service times.

Phase 34 lab 01 needs exact latencies to compare the histogram's percentile estimates against, so
`ObservedApp` wraps the phase-33 routes (engine.systems.serve.app.TutorApp) and records metrics for
each request from a service time the caller passes, not from a clock. `drive` sends a seeded
stream of requests (a share of them invalid) with log-normal service times and varying gauges.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.systems.observability.prom import ServingMetrics
from engine.systems.serve.app import TutorApp


class ObservedApp:
    """The phase-33 routes plus the serving stack's metrics (prometheus-client) and /metrics.

    The two gauges read `queue_depth[0]` and `kv_slots[0]` at scrape time, so the caller moves them."""

    def __init__(self, app: TutorApp, queue_depth: list[int], kv_slots: list[int]) -> None:
        self.app = app
        self.m = ServingMetrics(lambda: queue_depth[0], lambda: kv_slots[0], model="tutor")

    def record(self, endpoint: str, method: str, status: int, seconds: float, prompt_tokens: int = 0,
               completion_tokens: int = 0, ttft_s: float | None = None) -> None:
        self.m.requests.labels(endpoint, method, str(status)).inc()
        self.m.duration.labels(endpoint).observe(seconds)
        if prompt_tokens:
            self.m.tokens.labels("prompt", "tutor").inc(prompt_tokens)
        if completion_tokens:
            self.m.tokens.labels("completion", "tutor").inc(completion_tokens)
        if ttft_s is not None:
            self.m.ttft.observe(ttft_s)
            self.m.stage.labels("decode").observe(seconds - ttft_s)

    def handle(self, method: str, path: str, body: bytes, clock: float) -> tuple[int, Any]:
        """Serve one request; `clock` is its simulated service time in seconds (the lab is deterministic)."""
        if (method, path) == ("GET", "/metrics"):
            return 200, self.m.exposition().decode()
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


def drive(app: ObservedApp, rng: np.random.Generator, sentences: list[str], queue: list[int], kv: list[int],
          on_request: Callable[[int, float, int], None] | None = None) -> tuple[np.ndarray, set[int]]:
    """POST each sentence (a twentieth of them replaced by an empty, invalid one) with a service time
    drawn log-normal around 0.8 s (an LLM-like spread from 100 ms to seconds) and random gauge readings.
    Returns the latencies and the indices of the invalid requests; `on_request(i, latency_s, status)`."""
    n = len(sentences)
    lat = rng.lognormal(np.log(0.8), 0.7, size=n)
    bodies = [json.dumps({"sentence": s}).encode() for s in sentences]
    bad = set(rng.choice(n, size=max(1, n // 20), replace=False).tolist())
    for i in range(n):
        body = b'{"sentence": ""}' if i in bad else bodies[i]
        queue[0], kv[0] = int(rng.integers(0, 8)), int(rng.integers(0, 32))
        status, _ = app.handle("POST", "/correct", body, float(lat[i]))
        if on_request is not None:
            on_request(i, float(lat[i]), status)
    return lat, bad
