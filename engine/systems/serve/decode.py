"""Iteration-level (continuous) batching: the one implementation, used by the phase-33 server's
decode worker (engine.systems.serve.scheduler) and by the offline `continuous_decode` the labs check.

Each iteration is ONE batched forward (engine.systems.serve.lm.SlotDecoder.forward) over every sequence
in flight, one new token each, plus the whole prompt of every request admitted this iteration
(its prefill rides in the same call instead of stalling the batch). Greedy tokens are taken for
all rows at once; a request that has its tokens (or drew a stop id) leaves at once and frees its
slot for the next.

Why one loop: a scheduler that admits and retires mid-flight must not mix up sequences, and the
tokens must equal decoding each request alone whatever the order of admission; testing one loop
tests both users.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from engine.lm.models.gpt import MiniGPT
from engine.systems.serve.lm import SlotDecoder


@dataclass
class Job:
    prompt: list[int]
    max_new: int
    stop: tuple[int, ...] = ()  # ids that end the reply (not kept)
    submitted: float = field(default_factory=time.perf_counter)
    admitted: float = 0.0  # entered a forward call
    prefilled: float = 0.0  # its prompt's forward returned (first token known)
    finished: float = 0.0
    tokens: list[int] = field(default_factory=list)
    future: Future = field(default_factory=Future)


@dataclass(frozen=True)
class StepRecord:
    seconds: float  # wall clock
    cpu_seconds: float  # the decode thread's own CPU time: what the cost model is fitted to
    batch: int  # sequences in the forward
    admitted: int  # of which prompts (prefills)


class ContinuousBatch:
    """`iterate(new_jobs)` admits jobs into free slots, runs one forward, and returns the jobs that
    finished in it. `free()` says how many may be admitted next."""

    def __init__(self, dec: SlotDecoder) -> None:
        self.dec = dec
        self.active: dict[int, Job] = {}  # slot -> job

    def free(self) -> int:
        return self.dec.slots - len(self.active)

    def iterate(self, new_jobs: Sequence[Job]) -> tuple[list[Job], StepRecord]:
        open_slots = [s for s in range(self.dec.slots) if s not in self.active]
        if len(new_jobs) > len(open_slots):
            raise ValueError(f"{len(new_jobs)} jobs for {len(open_slots)} free slots")
        running = sorted(self.active)
        slots = running + open_slots[: len(new_jobs)]
        seqs = [[self.active[s].tokens[-1]] for s in running] + [list(j.prompt) for j in new_jobs]
        t0, c0 = time.perf_counter(), time.thread_time()
        for s, job in zip(open_slots, new_jobs, strict=False):
            self.dec.length[s] = 0
            self.active[s] = job
            job.admitted = t0
        nxt = self.dec.forward(slots, seqs).argmax(axis=1).tolist() if slots else []
        t1, c1 = time.perf_counter(), time.thread_time()
        done = []
        for s, tok in zip(slots, nxt, strict=True):
            job = self.active[s]
            if job.prefilled == 0.0:
                job.prefilled = t1
            stopped = tok in job.stop
            if not stopped:
                job.tokens.append(tok)
            if stopped or len(job.tokens) >= job.max_new:
                del self.active[s]
                job.finished = t1
                done.append(job)
        return done, StepRecord(t1 - t0, c1 - c0, len(slots), len(new_jobs))


def continuous_decode(model: MiniGPT, prompts: Sequence[Sequence[int]], lengths: Sequence[int],
                      max_inflight: int) -> tuple[list[list[int]], int]:
    """Greedy tokens per request (all queued at once, admitted in order), and the number of
    batched forward calls the loop ran."""
    waiting = deque(Job(list(p), int(n)) for p, n in zip(prompts, lengths, strict=True))
    jobs = list(waiting)
    batch = ContinuousBatch(SlotDecoder(model, max_inflight))
    while waiting or batch.active:
        batch.iterate([waiting.popleft() for _ in range(min(batch.free(), len(waiting)))])
    return [j.tokens for j in jobs], batch.dec.forward_calls
