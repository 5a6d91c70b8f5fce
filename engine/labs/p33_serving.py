"""Phase 33 labs: the tutor behind an HTTP endpoint on 127.0.0.1 (lab-00), three handler styles under
load (lab-01, a timing lab), and static vs continuous batching on a simulated clock (lab-02, lab-03).

Fault `no_batching` (the phase's break): the handler calls the model directly instead of submitting to
the scheduler, so requests run one after another.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.lm.infer.kv_cache import KVCache
from engine.lm.infer.sampling import Greedy, generate
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.train.data import load_corpus
from engine.systems.observability.otel import read_spans, trace_stats, tracer_provider
from engine.systems.serve import contract
from engine.systems.serve.api import ServeConfig, Service, create_app
from engine.systems.serve.app import TutorApp
from engine.systems.serve.batching import CostModel, Outcome, simulate, workload
from engine.systems.serve.client import call, closed_loop
from engine.systems.serve.compare import Workload, compare
from engine.systems.serve.decode import continuous_decode
from engine.systems.serve.lm import TutorLM, tutor_sentences
from engine.systems.serve.styles import style_app
from engine.systems.serve.tutor import Tutor
from engine.systems.serve.uv import UvicornThread

FAULT = "no_batching"


def _sentences(n: int, seed: int) -> list[str]:
    """Corpus sentences, every other one damaged (the verb's last letter dropped) so both paths run."""
    rng = np.random.default_rng(seed)
    texts = [e.text for e in load_corpus()]
    picks = [texts[i] for i in rng.integers(len(texts), size=n)]
    return [s if i % 2 == 0 else s[:-1] for i, s in enumerate(picks)]


def _cdf(rec: Recorder, lat: np.ndarray, **tags: Any) -> None:
    xs = np.sort(lat)
    idx = np.unique(np.linspace(0, len(xs) - 1, min(len(xs), 60)).astype(int))
    for i in idx:
        rec.log(int(i), stage="cdf", latency_ms=float(xs[i]), cum_frac=(i + 1) / len(xs), **tags)


# ---------------------------------------------------------------------- lab 00: endpoint
def _lm(cfg: dict) -> TutorLM:
    m = cfg["model"]
    return TutorLM.build(seed=int(cfg["seed"]), max_new_tokens=int(m["max_new_tokens"]), d_model=int(m["d_model"]),
                         n_layers=int(m["n_layers"]), context_len=int(m["context_len"]))


def minimal_endpoint(cfg: dict, rec: Recorder) -> dict:
    """The FastAPI app under uvicorn on 127.0.0.1 with the Mini-GPT behind it: its contract,
    status by status, and the 413 that must come before any forward pass."""
    spans = rec.out_dir / "spans.jsonl"
    service = Service(None, ServeConfig(policy="continuous", max_body_bytes=int(cfg["max_body_bytes"])),
                      tracer_provider(spans, "tutor", batch=False))

    def logged(i: int, status: int, tokens: int, good: bool) -> None:
        rec.log(i, stage="roundtrip", status=status, tokens=tokens, ok=int(good))

    try:
        with UvicornThread(create_app(service)) as srv:
            out: dict[str, Any] = {"host": "127.0.0.1", **contract.before_load(srv.port)}
            service.attach(_lm(cfg))
            out["healthz_status"] = call(srv.port, "GET", "/healthz").status
            out["readyz_status_after_load"] = call(srv.port, "GET", "/readyz").status
            sentences = _sentences(int(cfg["roundtrips"]), cfg["seed"])
            out["roundtrip_ok"] = contract.roundtrips(srv.port, sentences, int(cfg["model"]["max_new_tokens"]), logged)
            out["roundtrips"] = len(sentences)
            out.update(contract.refusals(srv.port, service, int(cfg["max_body_bytes"])))
            text = call(srv.port, "GET", "/metrics").body.decode()
    finally:
        service.close()
    out.update(contract.metrics_facts(text))
    out.update({f"trace_{k}": v for k, v in trace_stats(read_spans(spans)).items()})
    return out


# ---------------------------------------------------------------------- lab 01: handler styles
def sync_vs_async(cfg: dict, rec: Recorder) -> dict:
    sentences = _sentences(int(cfg["total"]) + int(cfg["warmup"]), cfg["seed"])
    payloads = [{"sentence": s} for s in sentences]
    out: dict[str, Any] = {"service_ms": cfg["service_ms"], "threads": cfg["threads"]}
    statuses: list[int] = []
    p95: dict[str, float] = {}
    for k, style in enumerate(("sync", "blocking", "to_thread")):
        tutor = Tutor(service_ms=float(cfg["service_ms"]))
        tutor.load()
        with UvicornThread(style_app(TutorApp(tutor), style, int(cfg["threads"]))) as srv:
            closed_loop(srv.port, "/correct", payloads[: cfg["warmup"]], cfg["concurrency"], cfg["timeout_s"])
            samples, _ = closed_loop(srv.port, "/correct", payloads[cfg["warmup"]:], cfg["concurrency"], cfg["timeout_s"])
        out[f"{style}_max_overlap"] = tutor.max_overlap  # counted: model calls in their service time at once
        res = [(x.latency_s * 1000, x.status) for x in samples]
        lat = np.array([ms for ms, st in res if st == 200])
        statuses += [st for _, st in res]
        p50, p95[style], p99 = np.percentile(lat, [50, 95, 99]) if len(lat) else (np.nan,) * 3
        out[f"{style}_p50_ms"], out[f"{style}_p95_ms"], out[f"{style}_p99_ms"] = float(p50), float(p95[style]), float(p99)
        rec.log(k, stage="summary", variant=style, p50_ms=float(p50), p95_ms=float(p95[style]), p99_ms=float(p99))
        _cdf(rec, lat, variant=style)
        rec.progress(k + 1, 3)
    out["ok_rate"] = sum(s == 200 for s in statuses) / len(statuses)
    out["p95_blocking_over_sync"] = p95["blocking"] / p95["sync"]
    out["p95_blocking_over_tothread"] = p95["blocking"] / p95["to_thread"]
    out["p95_sync_vs_tothread_rel_diff"] = abs(p95["sync"] - p95["to_thread"]) / p95["sync"]
    return out


# ---------------------------------------------------------------------- lab 02: static batching
def _cost(cfg: dict) -> CostModel:
    return CostModel(**cfg["cost"])


def static_batching(cfg: dict, rec: Recorder) -> dict:
    cost = _cost(cfg)
    out: dict[str, Any] = {}
    oks: list[float] = []
    rows: dict[tuple[int, int], dict[str, float]] = {}
    for i, (b, w) in enumerate(cfg["sweep"]):
        runs = [simulate("static", workload(cfg["total"], cfg["seed"] + r), cfg["concurrency"], cost,
                         max_batch=b, max_wait_ms=w, max_queue=cfg["max_queue"]).summary() for r in range(cfg["runs"])]
        med = {k: float(np.median([r[k] for r in runs])) for k in ("throughput_rps", "p50_ms", "p95_ms", "ok_rate")}
        rows[(b, w)] = med
        oks += [r["ok_rate"] for r in runs]
        rec.log(i, stage="sweep", max_batch=b, max_wait_ms=w, **med)
        out[f"b{b}_w{w}"] = med
    base = rows[(1, 0)]["throughput_rps"]
    b4 = [v["throughput_rps"] for (b, _), v in rows.items() if b == 4] or [max(v["throughput_rps"] for v in rows.values())]
    out["throughput_ratio_batch4_over_baseline"] = b4[0] / base
    out["best_throughput_ratio"] = max(v["throughput_rps"] for v in rows.values()) / base
    out["ok_rate"] = float(min(oks))
    full = simulate("static", workload(cfg["total"], cfg["seed"]), cfg["concurrency"], cost, max_batch=8,
                    max_wait_ms=20, max_queue=8).summary()
    out["full_queue_gives_503"] = full["n_503"] > 0
    return out


# ---------------------------------------------------------------------- lab 03: continuous batching
def _single_request_equivalent(cfg: dict, cost: CostModel) -> dict[str, bool]:
    sim = all(simulate("continuous", [n], 1, cost).requests[0].done == simulate("none", [n], 1, cost).requests[0].done
              for n in range(1, 11))
    model = MiniGPT(MiniGPTConfig(context_len=32), rng=np.random.default_rng(cfg["seed"]))
    rng = np.random.default_rng(cfg["seed"] + 1)
    prompts = [[int(t) for t in rng.integers(3, 30, size=int(rng.integers(3, 12)))] for _ in range(cfg["decode_requests"])]
    lengths = [int(n) for n in rng.integers(1, 11, size=len(prompts))]
    ref = [generate(model, p, n, 0, Greedy(), cache=KVCache.allocate(layers=2, heads=4, head_dim=16, max_seq=32))
           for p, n in zip(prompts, lengths, strict=True)]
    alone, _ = continuous_decode(model, prompts[:1], lengths[:1], 1)
    batched, _ = continuous_decode(model, prompts, lengths, cfg["max_inflight"])
    return {"sim_latency_equal": sim, "tokens_single_equal": alone[0] == ref[0], "tokens_batched_equal": batched == ref}


def continuous_batching(cfg: dict, rec: Recorder) -> dict:
    cost = _cost(cfg)
    broken = cfg.get("fault") == FAULT
    served = "none" if broken else "continuous"  # the break: the handler bypasses the scheduler
    lengths = workload(cfg["total"], cfg["seed"])
    s_b, s_w = cfg["static"]
    runs: dict[str, Outcome] = {
        "none": simulate("none", lengths, cfg["concurrency"], cost, max_queue=cfg["max_queue"]),
        "static": simulate("static", lengths, cfg["concurrency"], cost, max_batch=s_b, max_wait_ms=s_w, max_queue=cfg["max_queue"]),
        "continuous": simulate(served, lengths, cfg["concurrency"], cost, max_inflight=cfg["max_inflight"], max_queue=cfg["max_queue"]),
    }
    out: dict[str, Any] = {"served_policy": served}
    for i, (name, o) in enumerate(runs.items()):
        s = o.summary()
        out[name] = s
        rec.log(i, stage="summary", scheduler=name, **{k: s[k] for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_rps")})
        _cdf(rec, o.latencies(), scheduler=name)
    out["scheduler_submits"] = runs["continuous"].submits
    out["p95_improvement_vs_static"] = 1 - out["continuous"]["p95_ms"] / out["static"]["p95_ms"]
    out["throughput_ratio_vs_static"] = out["continuous"]["throughput_rps"] / out["static"]["throughput_rps"]
    for i, m in enumerate(cfg["inflight_sweep"]):
        s = simulate("continuous", lengths, cfg["concurrency"], cost, max_inflight=m, max_queue=cfg["max_queue"]).summary()
        rec.log(i, stage="inflight_sweep", max_inflight=m, throughput_rps=s["throughput_rps"], p95_ms=s["p95_ms"])
        out[f"inflight_{m}"] = {"throughput_rps": s["throughput_rps"], "p95_ms": s["p95_ms"]}
    ov = cfg["overload"]
    over = simulate(served, workload(cfg["total"], cfg["seed"] + 7), ov["concurrency"], cost,
                    max_inflight=cfg["max_inflight"], max_queue=ov["max_queue"])
    statuses = {r.status for o in [*runs.values(), over] for r in o.requests}
    out["overload"] = over.summary()
    out["only_200_or_503"] = statuses <= {200, 503}
    out["overload_answers_503"] = out["overload"]["n_503"] > 0
    p50 = {}
    for c in cfg["client_sweep"]:
        p50[c] = simulate(served, lengths[: cfg["client_requests"]], c, cost, max_inflight=cfg["max_inflight"]).summary()["p50_ms"]
        rec.log(c, stage="clients", concurrency=c, p50_ms=p50[c])
    out["p50_by_concurrency"] = p50
    out["p50_c8_over_c1"] = p50[8] / p50[1]
    eq = _single_request_equivalent(cfg, cost)
    out.update(eq)
    out["single_request_equivalent"] = all(eq.values())
    return out


# ---------------------------------------------------------------------- lab 05: the real server
def real_server(cfg: dict, rec: Recorder) -> dict:
    """The four policies on server processes with the same seeded load; counted work is checked,
    timing is reported next to the cost model's prediction."""
    m = cfg["model"]
    mix = tuple(tuple(x) for x in cfg["length_mix"])
    if m.get("name"):  # the registry's tutor (phase 28), decoding each request's capped length (ignore_eos)
        from engine.lm.models import registry

        quick = bool(m.get("quick", True))
        registry.record(rec, registry.load(str(m["name"]), quick)[1])
        lm_spec: dict[str, Any] = {"model": str(m["name"]), "quick": quick, "max_new_tokens": int(m["max_new_tokens"])}
        work = Workload(int(cfg["requests"]), int(cfg["concurrency"]), int(cfg["seed"]), mix, tutor_sentences(),
                        ignore_eos=True)
    else:
        lm_spec = {"seed": int(cfg["seed"]), "max_new_tokens": int(m["max_new_tokens"]), "d_model": int(m["d_model"]),
                   "n_layers": int(m["n_layers"]), "context_len": int(m["context_len"])}
        work = Workload(int(cfg["requests"]), int(cfg["concurrency"]), int(cfg["seed"]), mix)
    res = compare(lm_spec, list(cfg["policies"]), work, ServeConfig(slots=int(cfg["slots"]),
                  max_wait_ms=float(cfg["max_wait_ms"])), str(rec.out_dir), warmup=int(cfg["warmup"]),
                  timeout_s=float(cfg["timeout_s"]), budget_s=float(cfg["budget_s"]), rounds=int(cfg["rounds"]))
    rows = res["rows"]
    out: dict[str, Any] = {"cost_model": res["cost_model"],
                           "completions_identical_across_policies": res["completions_identical_across_policies"]}
    for i, (p, r) in enumerate(rows.items()):
        q = r["predicted"]
        rec.log(i, stage="policy", policy=p, tokens_per_s=r["tokens_per_s"], predicted_tokens_per_s=q["tokens_per_s"],
                p50_ms=r["p50_ms"], p95_ms=r["p95_ms"], tokens_per_forward=r["tokens_per_forward"])
        for k in ("tokens_per_s", "tokens_per_cpu_s", "p50_ms", "p95_ms", "tokens_per_forward", "ok", "forward_calls"):
            out[f"{p}_{k}"] = r[k]
        out[f"{p}_predicted_tokens_per_s"] = q["tokens_per_s"]
        if "mean_step_batch" in r:
            out[f"{p}_mean_step_batch"] = r["mean_step_batch"]
    base = max(rows["inline"]["tokens_per_s"], rows["sequential"]["tokens_per_s"])
    out["continuous_over_one_at_a_time"] = rows["continuous"]["tokens_per_s"] / base if base else 0.0
    base_cpu = max(rows["inline"]["tokens_per_cpu_s"], rows["sequential"]["tokens_per_cpu_s"])
    out["continuous_over_one_at_a_time_per_cpu_s"] = rows["continuous"]["tokens_per_cpu_s"] / base_cpu if base_cpu else 0.0
    out["all_ok"] = all(r["ok"] == work.requests for r in rows.values())
    return out
