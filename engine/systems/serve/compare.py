"""The four serving policies measured on the real server, next to the cost model's prediction.

For each policy: a fresh server process (FastAPI under uvicorn on 127.0.0.1), a warm-up, then a closed loop of
`concurrency` clients sending the same seeded workload of decode lengths. Measured: tokens/s,
p50/p95 latency, and the worker's counted work (forward calls, tokens per forward, mean batch).
Also the server's own CPU seconds during its load, so tokens per CPU-second compares the policies'
efficiency even when other work on the machine steals wall time. Predicted: engine.systems.serve.batching.simulate with a CostModel whose step cost (step_ms + per_seq_ms x b)
and prefill are fitted to the continuous server's own forwards in the same run (their CPU time, so
the prediction is for an unloaded core), the teaching model of lab-02/03.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.lm.train.data import load_corpus
from engine.systems.serve.api import ROUTE, ServeConfig
from engine.systems.serve.batching import CostModel, simulate
from engine.systems.serve.client import closed_loop
from engine.systems.serve.lm import SlotDecoder, TutorLM
from engine.systems.serve.proc import ServerProcess

SIM_POLICY = {"inline": "none", "sequential": "none", "static": "static", "continuous": "continuous"}


@dataclass(frozen=True)
class Workload:
    requests: int
    concurrency: int
    seed: int
    mix: tuple[tuple[float, int, int], ...]  # (share, min tokens, max tokens)
    texts: tuple[str, ...] = ()  # the sentences to send (default: the verb corpus)
    ignore_eos: bool = False  # decode every request's full length (the mix's), past EOS

    def lengths(self) -> list[int]:
        rng = np.random.default_rng(self.seed)
        p = np.array([m[0] for m in self.mix])
        kinds = rng.choice(len(self.mix), size=self.requests, p=p / p.sum())
        return [int(rng.integers(self.mix[k][1], self.mix[k][2] + 1)) for k in kinds]

    def payloads(self) -> list[dict[str, Any]]:
        texts = list(self.texts) or [e.text for e in load_corpus()]
        rng = np.random.default_rng(self.seed + 1)
        extra = {"ignore_eos": True} if self.ignore_eos else {}
        return [{"sentence": texts[int(i)], "learner_id": f"bench-{k % self.concurrency}", "max_new_tokens": n, **extra}
                for k, (i, n) in enumerate(zip(rng.integers(len(texts), size=self.requests), self.lengths(), strict=True))]


def fit_cost_model(lm: TutorLM, slots: int, reps: int = 20) -> CostModel:
    """Time (CPU) batched steps at b = 1 and b = slots and a prefill; fit the course's linear step cost."""
    dec = SlotDecoder(lm.model, slots)
    prompt = lm.prompt_ids("He goed to school.")
    dec.prefill(0, prompt)  # warm-up: first-call costs are not the model's
    t0 = time.thread_time()
    for s in range(slots):
        dec.prefill(s, prompt)
    prefill_ms = (time.thread_time() - t0) * 1e3 / slots
    per_b = {}
    for b in (1, slots):
        dec.length[:] = len(prompt)
        t0 = time.thread_time()
        for _ in range(reps):
            dec.step(list(range(b)), [1] * b)
            dec.length[:b] -= 1  # stay at the same position: timing only
        per_b[b] = (time.thread_time() - t0) * 1e3 / reps
    per_seq = max(0.0, (per_b[slots] - per_b[1]) / (slots - 1))
    return CostModel(step_ms=max(per_b[1] - per_seq, 0.0), per_seq_ms=per_seq, prefill_ms=prefill_ms)


def predict(policy: str, lengths: list[int], concurrency: int, cost: CostModel, slots: int, max_wait_ms: float) -> dict[str, float]:
    o = simulate(SIM_POLICY[policy], lengths, concurrency, cost, max_batch=slots, max_wait_ms=max_wait_ms,
                 max_inflight=slots)
    s = o.summary()
    tokens = sum(r.tokens for r in o.requests if r.status == 200)
    return {"tokens_per_s": tokens / (o.end_ms / 1000) if o.end_ms else 0.0, "p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"]}


def server_spec(lm_spec: dict[str, Any], cfg: ServeConfig, spans_path: str, model_name: str = "mini-gpt") -> dict[str, Any]:
    return {"lm": lm_spec, "serve": dict(cfg.__dict__), "spans": spans_path, "model_name": model_name}


@dataclass
class _Tally:
    samples: list = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0  # the server process's CPU seconds while its load ran
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def _summary(policy: str, t: _Tally) -> dict[str, Any]:
    ok = [s for s in t.samples if s.status == 200]
    lat = np.array([s.latency_s * 1e3 for s in ok]) if ok else np.array([np.nan])
    tokens = sum(s.tokens for s in ok)
    forwards = t.after["forward_calls"] - t.before["forward_calls"]
    out = {"policy": policy, "requests": len(t.samples), "ok": len(ok), "tokens": tokens, "wall_s": t.wall,
           "tokens_per_s": tokens / t.wall if t.wall else 0.0, "server_cpu_s": t.cpu,
           "tokens_per_cpu_s": tokens / t.cpu if t.cpu else 0.0, "p50_ms": float(np.percentile(lat, 50)),
           "p95_ms": float(np.percentile(lat, 95)), "forward_calls": forwards,
           "tokens_per_forward": tokens / forwards if forwards else 0.0,
           "completions": {s.index: s.completion for s in ok}, "lengths": {s.index: s.tokens for s in ok},
           "cost_fit": t.after.get("cost_fit", {})}
    if "decode_steps" in t.after:
        steps = t.after["decode_steps"] - t.before["decode_steps"]
        sizes = (t.after["mean_step_batch"] * t.after["decode_steps"]
                 - t.before["mean_step_batch"] * t.before["decode_steps"])
        out["mean_step_batch"] = sizes / steps if steps else 0.0
        out["padded_rows"] = t.after["padded_rows"] - t.before["padded_rows"]
    return out


def measure_all(lm_spec: dict[str, Any], policies: list[str], work: Workload, cfg: ServeConfig, workdir: str,
                warmup: int, timeout_s: float, budget_s: float, rounds: int) -> dict[str, dict[str, Any]]:
    """Every policy on its own server process (so the load generator does not share its GIL),
    all up at once; the load is sent in `rounds` slices, policies taking turns within each round,
    so a machine whose background load drifts slows every policy alike."""
    payloads = work.payloads()
    cut = [len(payloads) * r // rounds for r in range(rounds + 1)]
    tallies = {p: _Tally() for p in policies}
    with ExitStack() as stack:
        servers = {p: stack.enter_context(ServerProcess(
            server_spec(lm_spec, ServeConfig(**{**cfg.__dict__, "policy": p}), f"{workdir}/spans-{p}.jsonl"),
            f"{workdir}/{p}")) for p in policies}
        for p, srv in servers.items():
            closed_loop(srv.port, ROUTE, payloads[:warmup], min(warmup, work.concurrency), timeout_s, budget_s)
            tallies[p].before = srv.stats()
        for r in range(rounds):
            for p, srv in servers.items():
                chunk = [(i, payloads[i]) for i in range(cut[r], cut[r + 1])]
                cpu0 = srv.cpu_seconds()
                got, wall = closed_loop(srv.port, ROUTE, [x for _, x in chunk], work.concurrency, timeout_s,
                                        budget_s / rounds)
                for smp in got:
                    smp.index = chunk[smp.index][0]
                tallies[p].samples += got
                tallies[p].wall += wall
                tallies[p].cpu += srv.cpu_seconds() - cpu0
        for p, srv in servers.items():
            tallies[p].after = srv.stats()
    return {p: _summary(p, t) for p, t in tallies.items()}


def compare(lm_spec: dict[str, Any], policies: list[str], work: Workload, cfg: ServeConfig, workdir: str,
            warmup: int = 4, timeout_s: float = 60.0, budget_s: float = 120.0, rounds: int = 3) -> dict[str, Any]:
    rows = measure_all(lm_spec, policies, work, cfg, workdir, warmup, timeout_s, budget_s, rounds)
    # the lengths the cost model simulates: the decoded ones (a reply may end at EOS before its cap)
    got = rows[policies[0]].get("lengths", {})
    lengths = [int(got.get(i, n)) for i, n in enumerate(work.lengths())]
    for row in rows.values():
        row.pop("lengths", None)
    fit = rows.get("continuous", {}).get("cost_fit", {})
    if {"step_ms", "per_seq_ms", "prefill_ms"} <= set(fit):  # fitted to the server's own timed steps
        cost = CostModel(max(fit["step_ms"], 0.0), max(fit["per_seq_ms"], 0.0), fit["prefill_ms"])
    else:
        cost = fit_cost_model(TutorLM.build(**lm_spec), cfg.slots)
    for p, row in rows.items():
        row["predicted"] = predict(p, lengths, work.concurrency, cost, cfg.slots, cfg.max_wait_ms)
    texts = [r.pop("completions") for r in rows.values()]
    same = all(t == texts[0] for t in texts) and len(texts[0]) == work.requests
    return {"cost_model": cost.__dict__, "rows": rows, "completions_identical_across_policies": same}
