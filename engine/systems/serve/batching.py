"""Discrete-event simulation of a single-model server under a closed-loop load: no batching, static
batching (max_batch, max_wait_ms) and continuous (iteration-level) batching (max_inflight).

Why simulate: the phase's point is the scheduling, and a simulated clock makes the comparison exact and
repeatable on any machine. The cost model is the course's decoding arithmetic: a decode step for b
sequences costs step_ms + per_seq_ms x b (batching amortises the weight reads), a prefill costs
prefill_ms per admitted request. A request needs `tokens` decode steps.

Load: `concurrency` clients each keep one request outstanding until `total` have been sent; a request
that finds `max_queue` already waiting gets 503 at once and its client retries after `retry_after_ms`.
A request older than `timeout_ms` when it finishes counts as a timeout (status 504).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CostModel:
    step_ms: float = 6.5
    per_seq_ms: float = 0.5
    prefill_ms: float = 2.0

    def step(self, batch: int) -> float:
        return self.step_ms + self.per_seq_ms * batch


@dataclass
class Request:
    rid: int
    arrival: float
    tokens: int
    left: int = 0
    done: float = -1.0
    status: int = 0


@dataclass
class Outcome:
    requests: list[Request] = field(default_factory=list)
    submits: int = 0  # requests handed to a scheduler (0 when the handler calls the model directly)
    end_ms: float = 0.0

    def latencies(self, status: int = 200) -> np.ndarray:
        return np.array([r.done - r.arrival for r in self.requests if r.status == status])

    def summary(self) -> dict[str, float]:
        lat = self.latencies()
        n_ok = len(lat)
        pct = np.percentile(lat, [50, 95, 99]) if n_ok else [float("nan")] * 3
        return {"p50_ms": float(pct[0]), "p95_ms": float(pct[1]), "p99_ms": float(pct[2]),
                "throughput_rps": n_ok / (self.end_ms / 1000) if self.end_ms else 0.0,
                "ok_rate": n_ok / len(self.requests), "n_503": sum(r.status == 503 for r in self.requests),
                "n_timeout": sum(r.status == 504 for r in self.requests)}


def workload(n: int, seed: int, mix: tuple[tuple[float, int, int], ...] = ((0.6, 1, 2), (0.3, 2, 3), (0.1, 6, 10))) -> list[int]:
    """Decode lengths: by default 60 % need 1-2 tokens, 30 % 2-3, 10 % 6-10 (the course's mix)."""
    rng = np.random.default_rng(seed)
    probs = np.array([m[0] for m in mix])
    kinds = rng.choice(len(mix), size=n, p=probs / probs.sum())
    return [int(rng.integers(mix[k][1], mix[k][2] + 1)) for k in kinds]


def simulate(policy: str, lengths: list[int], concurrency: int, cost: CostModel, max_batch: int = 8,
             max_wait_ms: float = 20.0, max_inflight: int = 8, max_queue: int = 10**9,
             retry_after_ms: float = 100.0, timeout_ms: float = 30_000.0) -> Outcome:
    """policy: "none" | "static" | "continuous". Returns every request with its arrival, finish and status."""
    if policy not in ("none", "static", "continuous"):
        raise ValueError(f"unknown policy {policy!r}")
    out = Outcome()
    sends: list[tuple[float, int]] = [(0.0, c) for c in range(min(concurrency, len(lengths)))]  # (time, client)
    heapq.heapify(sends)
    next_len = iter(lengths)
    waiting: deque[Request] = deque()
    active: list[Request] = []
    now = 0.0

    def arrive_until(t: float) -> None:
        while sends and sends[0][0] <= t:
            at, client = heapq.heappop(sends)
            n = next(next_len, None)
            if n is None:
                continue
            r = Request(len(out.requests), at, n, left=n)
            out.requests.append(r)
            if len(waiting) >= max_queue:
                r.done, r.status = at, 503
                heapq.heappush(sends, (at + retry_after_ms, client))
            else:
                waiting.append(r)
                if policy != "none":
                    out.submits += 1

    def finish(r: Request, t: float) -> None:
        r.done = t
        r.status = 200 if t - r.arrival <= timeout_ms else 504
        heapq.heappush(sends, (t, 0))

    while True:
        arrive_until(now)
        if not waiting and not active:
            if not sends:
                break
            now = max(now, sends[0][0])
            continue
        if policy == "none":
            r = waiting.popleft()
            now += cost.prefill_ms + r.tokens * cost.step(1)
            finish(r, now)
        elif policy == "static":
            if len(waiting) < max_batch:  # collect until full or the wait limit passes
                deadline = now + max_wait_ms
                while len(waiting) < max_batch and sends and sends[0][0] <= deadline:
                    now = max(now, sends[0][0])
                    arrive_until(now)
                if len(waiting) < max_batch:
                    now = deadline
                    arrive_until(now)
            batch = [waiting.popleft() for _ in range(min(max_batch, len(waiting)))]
            now += cost.prefill_ms * len(batch) + max(r.tokens for r in batch) * cost.step(len(batch))
            for r in batch:
                finish(r, now)
        else:
            while waiting and len(active) < max_inflight:  # admit in arrival order, prefill each
                active.append(waiting.popleft())
                now += cost.prefill_ms
            now += cost.step(len(active))
            for r in active:
                r.left -= 1
            for r in [r for r in active if r.left == 0]:
                active.remove(r)
                finish(r, now)
    out.end_ms = now
    return out
