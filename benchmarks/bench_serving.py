"""Serving throughput on the real phase-33 server, four policies in one run.

Each policy gets its own server process (FastAPI under uvicorn on 127.0.0.1) serving the phase-28
grammar tutor from the model cache (engine.lm.models.registry, `--model phase-28`, built on first use;
replies end at EOS or the request's cap), and the same bounded closed-loop load of held-out learner
sentences (N requests, C concurrent clients on kept-alive
connections, seeded decode lengths). The modes: sync (a plain-def handler running the model inline,
one request at a time), async (an async handler and a one-at-a-time decode worker), static
batching, continuous batching. The table shows measured tokens/s and p50/p95 next to the cost
model's prediction (fitted to the continuous server's own timed forwards), plus the counted work.

Fairness: the async one-at-a-time mode runs the batched kernel itself with one slot, and the
sync mode the model's own forward with its KV cache; the ratio is taken against the faster of
the two, and both kernels' CPU cost per token at batch 1 is printed, so a faster kernel cannot
pass for batching.

Target: continuous batching at 8 clients >= 3x the tokens/s of one-at-a-time decoding
(the better of "inline" and "sequential"), both measured here, now, in one run. Exit 1 if missed.
The default pass decodes each request's capped length (16-40 tokens) past EOS (`ignore_eos`, a
request field of the server, as vLLM's throughput benchmark sets it): decode throughput under a
known length mix. `--eos` serves replies as learners get them, ending at EOS after about 9 tokens
with the quick tutor; there the ~2 ms of HTTP, validation, tracing and metrics work per request,
which no batching shares, weighs as much as 5 decode steps, and the ratio is lower (reported, the
same target printed).

Run: .venv/bin/python benchmarks/bench_serving.py [--requests 96] [--concurrency 8] [--full]
     (--model mini-gpt serves the seeded character Mini-GPT of --d-model instead)
"""

from __future__ import annotations

import os

os.environ.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})  # as the servers

import argparse
import json
import sys
import tempfile
import time

from engine.systems.serve.api import ServeConfig
from engine.systems.serve.compare import Workload, compare
from engine.systems.serve.lm import SlotDecoder, TutorLM, tutor_sentences

MIX = ((0.6, 24, 40), (0.3, 40, 56), (0.1, 56, 64))  # decode-length caps (the tutor usually stops first at EOS)
TUTOR_MIX = ((0.6, 16, 24), (0.3, 24, 32), (0.1, 32, 40))
TARGET = 3.0
MODE = {"inline": "sync", "sequential": "async", "static": "static", "continuous": "continuous"}


def kernel_at_batch_one(lm_spec: dict, reps: int = 40, trials: int = 3) -> tuple[float, float]:
    """CPU ms per token (best of `trials`): the model's own forward with a KV cache (the
    one-at-a-time path) and the batched slot kernel with one sequence, same prompt and positions."""
    lm = TutorLM.build(**lm_spec)
    prompt = lm.prompt_ids("he goed to school yesterday")
    lm.stop = ()  # time a fixed number of steps
    alone, batched = [], []
    for _ in range(trials):
        t0 = time.process_time()
        lm.decode_alone(prompt, n=reps)
        alone.append((time.process_time() - t0) * 1e3 / reps)
        dec = SlotDecoder(lm.model, 1)
        t0 = time.process_time()
        tok = int(dec.prefill(0, prompt).argmax())
        for _ in range(reps - 1):
            tok = int(dec.step([0], [tok]).argmax())
        batched.append((time.process_time() - t0) * 1e3 / reps)
    return min(alone), min(batched)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--model", default="phase-28", choices=["phase-28", "mini-gpt"])
    ap.add_argument("--full", action="store_true", help="the full-mode tutor (default: the quick build)")
    ap.add_argument("--eos", action="store_true",
                    help="replies end at EOS as the tutor serves them (about 9 tokens with the quick tutor); "
                         "default: each request decodes its capped length past EOS (ignore_eos, as vLLM's "
                         "throughput benchmark does), so the decode lengths are the workload's")
    ap.add_argument("--d-model", type=int, default=128, help="--model mini-gpt: width (4 layers, 4 heads)")
    ap.add_argument("--seed", type=int, default=33)
    ap.add_argument("--budget-s", type=float, default=180.0, help="wall-clock cap per policy")
    ap.add_argument("--rounds", type=int, default=2, help="load slices; the policies take turns in each")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.model == "phase-28":
        lm_spec: dict = {"model": "phase-28", "quick": not a.full, "max_new_tokens": 40}
        TutorLM.build(**lm_spec)  # build the cache stage once here, not in four servers at once
        work = Workload(a.requests, a.concurrency, a.seed, TUTOR_MIX, tutor_sentences(), not a.eos)
    else:
        lm_spec = {"seed": a.seed, "max_new_tokens": 64, "context_len": 96, "d_model": a.d_model, "n_layers": 4}
        work = Workload(a.requests, a.concurrency, a.seed, MIX)
    with tempfile.TemporaryDirectory() as d:
        res = compare(lm_spec, ["inline", "sequential", "static", "continuous"], work,
                      ServeConfig(slots=a.slots, max_wait_ms=10.0), d, budget_s=a.budget_s,
                      rounds=a.rounds)
    rows = res["rows"]
    alone_ms, slot_ms = kernel_at_batch_one(lm_spec)
    base = max(rows["inline"]["tokens_per_s"], rows["sequential"]["tokens_per_s"])  # the better one-at-a-time
    ratio = rows["continuous"]["tokens_per_s"] / base if base else 0.0
    base_cpu = max(rows["inline"]["tokens_per_cpu_s"], rows["sequential"]["tokens_per_cpu_s"])
    ratio_cpu = rows["continuous"]["tokens_per_cpu_s"] / base_cpu if base_cpu else 0.0
    if a.json:
        print(json.dumps({**res, "loadavg": os.getloadavg(), "continuous_over_one_at_a_time": ratio, "per_cpu_s_ratio": ratio_cpu,
                          "cpu_ms_per_token_alone": alone_ms, "cpu_ms_per_token_slot_kernel_b1": slot_ms}, indent=1))
    else:
        c = res["cost_model"]
        print(f"model: {a.model}{'' if a.model != 'phase-28' else (' full' if a.full else ' quick')}"
              f"{'' if a.model != 'phase-28' else (', replies end at EOS' if a.eos else ', ignore_eos')}; "
              f"{a.requests} requests, {a.concurrency} clients, {a.slots} slots; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"cost model fitted here: step {c['step_ms']:.2f} ms + {c['per_seq_ms']:.3f} ms x b, "
              f"prefill {c['prefill_ms']:.2f} ms")
        print("pred: the cost model on an unloaded core (fitted to CPU time); on a busy machine compare it "
              "with tok/cpu-s")
        print(f"{'mode':<11} {'tok/s':>8} {'tok/cpu-s':>9} {'pred':>8} {'p50 ms':>8} {'pred':>8} {'p95 ms':>8} "
              f"{'pred':>8} {'tok/fwd':>8} {'batch':>6} {'ok':>5}")
        for p, r in rows.items():
            q = r["predicted"]
            print(f"{MODE.get(p, p):<11} {r['tokens_per_s']:8.1f} {r['tokens_per_cpu_s']:9.1f} {q['tokens_per_s']:8.1f} "
                  f"{r['p50_ms']:8.1f} {q['p50_ms']:8.1f} {r['p95_ms']:8.1f} {q['p95_ms']:8.1f} "
                  f"{r['tokens_per_forward']:8.2f} {r.get('mean_step_batch', 1.0):6.2f} {r['ok']:>5}")
        print(f"CPU ms per token at batch 1: model's own forward {alone_ms:.2f}, batched slot kernel {slot_ms:.2f}")
        print(f"greedy completions identical across the four policies: {res['completions_identical_across_policies']}")
        print(f"continuous / best one-at-a-time, tokens per server CPU-second: {ratio_cpu:.2f}x")
        print(f"continuous / best one-at-a-time tokens/s: {ratio:.2f}x (target >= {TARGET}x) "
              f"{'PASS' if ratio >= TARGET else 'FAIL'}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
