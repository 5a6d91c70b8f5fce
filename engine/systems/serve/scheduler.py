"""The decode worker behind the phase-33 server: one thread owns the model, requests come in as
futures, and the policy decides how they share forward passes.

  sequential  one request at a time on the batched kernel with a single slot: the one-at-a-time
              baseline on the same code as the batched policies (the plain-def "inline" handler
              in engine.systems.serve.api runs decode_alone, the model's own forward, instead)
  static      wait for max_batch requests or max_wait_ms after the first, prefill them in one
              forward, then batched steps until the longest is done; rows that finished early
              are still computed (padding), as a fixed batch does
  continuous  engine.systems.serve.decode.ContinuousBatch: every iteration is one forward over all
              sequences in flight plus the prompts of those admitted into free slots, and the
              finished retire at once

Counted work (forward calls, tokens delivered, padded rows, batch sizes) is what the lab's hard
checks read; timings are per request for the latency histograms and spans, and per forward for
the cost model's fit (step_ms + per_seq_ms x b + prefill_ms x admitted, least squares).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.systems.serve.decode import ContinuousBatch, Job, StepRecord
from engine.systems.serve.lm import SlotDecoder, TutorLM

POLICIES = ("sequential", "static", "continuous")


@dataclass
class Counters:
    requests: int = 0
    forward_calls: int = 0
    tokens: int = 0  # delivered to clients
    padded_rows: int = 0  # computed for a sequence that had already finished (static)
    step_batch_sizes: list[int] = field(default_factory=list)  # sequences per decode forward
    steps: list[StepRecord] = field(default_factory=list)  # every timed batched forward

    def snapshot(self) -> dict[str, Any]:
        sizes = self.step_batch_sizes
        return {"cost_fit": fit_cost(self.steps), "requests": self.requests, "forward_calls": self.forward_calls,
                "tokens": self.tokens, "padded_rows": self.padded_rows, "decode_steps": len(sizes),
                "mean_step_batch": float(np.mean(sizes)) if sizes else 0.0,
                "tokens_per_forward": self.tokens / self.forward_calls if self.forward_calls else 0.0}


def fit_cost(steps: list[StepRecord]) -> dict[str, float]:
    """The course's cost model fitted to timed forwards: seconds = step + per_seq x batch +
    prefill x admitted (least squares), on the decode thread's CPU time, so what other processes
    take from a shared machine does not enter it (it predicts an unloaded core); empty when the
    steps do not vary enough to tell."""
    if len(steps) < 8:
        return {}
    a = np.array([[1.0, s.batch, s.admitted] for s in steps])
    t = np.array([s.cpu_seconds for s in steps])
    if np.linalg.matrix_rank(a) < 3:
        return {}
    coef = np.linalg.lstsq(a, t, rcond=None)[0] * 1e3
    return {"step_ms": float(coef[0]), "per_seq_ms": float(coef[1]), "prefill_ms": float(coef[2])}


class DecodeWorker:
    """`submit(prompt, max_new)` returns a Future of the Job; `close()` stops the thread."""

    def __init__(self, lm: TutorLM, policy: str, slots: int = 8, max_wait_ms: float = 10.0,
                 arriving: Callable[[], int] | None = None, admit_wait_ms: float = 2.0) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; one of {POLICIES}")
        self.lm, self.policy, self.slots, self.max_wait_s = lm, policy, slots, max_wait_ms / 1000
        # continuous: requests the server has begun handling but not submitted yet; while some are on
        # their way and slots are free, the worker waits (at most admit_wait_ms a step) so they join
        # this forward instead of the GIL-holding decode loop starving the event loop that parses them
        self.arriving = arriving or (lambda: 0)
        self.admit_wait_s = admit_wait_ms / 1000
        self.counters = Counters()
        self._inbox: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=getattr(self, f"_run_{policy}"), name=f"decode-{policy}", daemon=True)
        self._thread.start()

    def submit(self, prompt: list[int], max_new: int, ignore_eos: bool = False) -> Future:
        job = Job(prompt, max(1, min(max_new, self.lm.max_new)), () if ignore_eos else self.lm.stop)
        self._inbox.put(job)
        return job.future

    def close(self) -> None:
        self._stop = True
        self._inbox.put(None)
        self._thread.join(10)

    def queue_depth(self) -> int:
        return self._inbox.qsize()

    # ------------------------------------------------------------------ policies
    def _done(self, job: Job) -> None:
        job.finished = time.perf_counter()
        with self._lock:
            self.counters.requests += 1
            self.counters.tokens += len(job.tokens)
        job.future.set_result(job)

    def _run_sequential(self) -> None:
        batch = ContinuousBatch(SlotDecoder(self.lm.model, 1))
        while (job := self._inbox.get()) is not None:
            done: list[Job] = []
            while not done:
                done, step = batch.iterate([] if batch.active else [job])
                self.counters.steps.append(step)
                if step.admitted == 0:
                    self.counters.step_batch_sizes.append(1)
            self.counters.forward_calls = batch.dec.forward_calls
            self._done(job)

    def _take(self, block: bool, timeout: float | None = None) -> Job | None:
        try:
            return self._inbox.get(block, timeout)
        except queue.Empty:
            return None

    def _run_static(self) -> None:
        dec = SlotDecoder(self.lm.model, self.slots)
        while not self._stop:
            first = self._take(True)
            if first is None:
                return
            batch, deadline = [first], time.perf_counter() + self.max_wait_s
            while len(batch) < self.slots and (left := deadline - time.perf_counter()) > 0:
                nxt = self._take(True, left)
                if nxt is None:
                    if self._stop:
                        break
                    continue
                batch.append(nxt)
            self._decode_batch(dec, batch)

    def _decode_batch(self, dec: SlotDecoder, batch: list[Job]) -> None:
        """A fixed batch: one forward prefills every prompt, then steps over every row until the
        longest is done (finished rows are still computed: padding)."""
        rows = list(range(len(batch)))
        dec.length[rows] = 0
        t0, c0 = time.perf_counter(), time.thread_time()
        for job in batch:
            job.admitted = t0
        last = dec.forward(rows, [j.prompt for j in batch]).argmax(axis=1).tolist()
        t1 = time.perf_counter()
        self.counters.steps.append(StepRecord(t1 - t0, time.thread_time() - c0, len(batch), len(batch)))
        for job in batch:
            job.prefilled = t1
        longest = max(j.max_new for j in batch)
        ended = [False] * len(batch)  # reached max_new or drew a stop id
        for _ in range(longest):
            for r, (job, tok) in enumerate(zip(batch, last, strict=True)):
                if not ended[r]:
                    if tok in job.stop:
                        ended[r] = True
                    else:
                        job.tokens.append(tok)
                        ended[r] = len(job.tokens) >= job.max_new
            if all(ended):
                break
            t0, c0 = time.perf_counter(), time.thread_time()
            last = dec.step(rows, last).argmax(axis=1).tolist()
            self.counters.steps.append(StepRecord(time.perf_counter() - t0, time.thread_time() - c0, len(batch), 0))
            self.counters.step_batch_sizes.append(len(batch))
            self.counters.padded_rows += sum(ended)
        self.counters.forward_calls = dec.forward_calls
        for job in batch:
            self._done(job)

    def _run_continuous(self) -> None:
        batch = ContinuousBatch(SlotDecoder(self.lm.model, self.slots))
        waiting: list[Job] = []
        while True:
            block = not batch.active and not waiting
            while (job := self._take(block)) is not None:  # everything that arrived joins this iteration
                waiting.append(job)
                block = False
            deadline = time.perf_counter() + self.admit_wait_s
            while (not self._stop and len(waiting) < batch.free() and self.arriving() > 0
                   and time.perf_counter() < deadline):  # bounded wait for requests being parsed now
                if (job := self._take(True, 0.0002)) is not None:
                    waiting.append(job)
            if self._stop:
                return
            admit, waiting = waiting[: batch.free()], waiting[batch.free():]
            done, step = batch.iterate(admit)
            self.counters.steps.append(step)
            if step.batch > step.admitted:
                self.counters.step_batch_sizes.append(step.batch)
            self.counters.forward_calls = batch.dec.forward_calls
            for job in done:
                self._done(job)
