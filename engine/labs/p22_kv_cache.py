"""Phase 22 labs: cache sizes from the formula, the KVCache's contract, cached == uncached
generation on the course's model (the phase-18 spine checkpoint as the NumPy twin, BPE tokens, via
engine.lm.models.spine_numpy), and memory/latency against context length.

Fault `cache_pos_off_by_one` (the phase's break): KVCache.append writes at cursor + 1, so every
decode step reads a zero row and misses the newest one; prefill is unaffected.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.core.threads import blas_threads
from engine.lm.infer.kv_cache import CacheFullError, KVCache, cache_bytes, max_context
from engine.lm.infer.sampling import Temperature, generate
from engine.lm.models import spine_numpy
from engine.lm.models.attention_ref import MultiHeadAttention
from engine.lm.models.gpt import CausalSelfAttention, MiniGPT, MiniGPTConfig
from engine.lm.text import bilingual as B
from engine.scratch.autograd.tensor import Tensor, no_grad

FAULT = "cache_pos_off_by_one"
GIB, KIB, MIB = 2**30, 2**10, 2**20
# name: (layers, query heads, kv heads, head_dim, bytes per value)
MODELS = {
    "minigpt": (2, 4, 4, 16, 4), "gpt2_small": (12, 12, 12, 64, 2), "llama2_7b": (32, 32, 32, 128, 2),
    "llama2_13b": (40, 40, 40, 128, 2), "llama70b_mha": (80, 64, 64, 128, 2), "llama70b_gqa8": (80, 64, 8, 128, 2),
    "gpt3": (96, 96, 96, 128, 2),
}


# ---------------------------------------------------------------------- lab 00: sizes
def cache_sizes(cfg: dict, rec: Recorder) -> dict:
    out: dict[str, Any] = {}
    for i, (name, (layers, _, kv, dh, b)) in enumerate(MODELS.items()):
        per = cache_bytes(layers, kv, dh, 1, 1, b)
        out[f"{name}_bytes_per_token"] = int(per)
        out[f"{name}_4k_mib"] = per * 4096 / MIB
        out[f"{name}_32k_gib"] = per * 32768 / GIB
        rec.log(i, stage="sizes", model=name, bytes_per_token=per, mib_at_4k=per * 4096 / MIB)
    out["gqa8_saving_factor_70b"] = out["llama70b_mha_bytes_per_token"] // out["llama70b_gqa8_bytes_per_token"]
    out["mistral_gqa_saving_factor"] = 32 // 8
    free = 40 * GIB - 14 * GIB  # A100-40GB after Llama-2-7B's fp16 weights
    out["a100_llama7b_max_context_b1"] = max_context(free, 32, 32, 128, 1, 2)
    out["a100_llama7b_max_context_b8"] = max_context(free, 32, 32, 128, 8, 2)
    out["minigpt_128_tokens_kib"] = cache_bytes(2, 4, 16, 128, 1, 4) / KIB
    out["minigpt_128_tokens_b8_mib"] = cache_bytes(2, 4, 16, 128, 8, 4) / MIB
    out["minigpt_fp16_bytes_per_token"] = int(cache_bytes(2, 4, 16, 1, 1, 2))
    out["max_context_rounds_down"] = max_context(1.9 * cache_bytes(2, 4, 16, 1, 1, 4), 2, 4, 16, 1, 4)
    out["quiz_2x2x4x16x64x4x2_kib"] = cache_bytes(2, 4, 16, 64, 4, 2) / KIB
    out["h100s_for_gpt3_weights_fp16"] = -(-175e9 * 2 // (80 * 1e9))
    out["h100s_for_gpt3_weights_int8"] = -(-175e9 * 1 // (80 * 1e9))
    return out


# ---------------------------------------------------------------------- lab 01: the cache
def _cache_tests() -> dict[str, bool]:
    def alloc(**kw: Any) -> KVCache:
        return KVCache.allocate(**{"layers": 4, "heads": 4, "head_dim": 32, "max_seq": 128, "batch": 2, **kw})

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(2, 4, 3, 32)).astype(np.float32)
    t: dict[str, bool] = {}
    c = alloc()
    t["allocate_shapes"] = c.k[0].shape == (2, 4, 128, 32) and len(c.k) == 4
    t["initial_cursor_zero"] = c.current_length(0) == 0
    c.append(0, rows, rows)
    t["append_advances_cursor"] = c.current_length(0) == 3
    c.append(1, rows[:, :, :1], rows[:, :, :1])
    t["append_one_token_per_layer"] = c.current_length(1) == 1 and c.current_length(0) == 3
    k, v = c.read(0)
    t["read_returns_only_filled_rows"] = k.shape == (2, 4, 3, 32) and np.array_equal(k, rows) and np.shares_memory(k, c.k[0])
    small = alloc(max_seq=4)
    small.append(0, rows, rows)
    try:
        small.append(0, rows, rows)
        t["capacity_exceeded_raises"] = False
    except CacheFullError:
        t["capacity_exceeded_raises"] = True
    t["dtype_preserved"] = alloc(dtype=np.float16).read(0)[0].dtype == np.float16
    c.reset()
    t["reset_empties_cursor"] = all(c.current_length(i) == 0 for i in range(4))
    c.append(2, rows, rows)
    t["independent_layers"] = c.current_length(2) == 3 and c.current_length(3) == 0 and not c.k[3].any()
    c2 = alloc()
    c2.append(0, rows, rows * 0 + 1)
    t["independent_batch_entries"] = np.array_equal(c2.read(0)[0][1], rows[1]) and np.array_equal(c2.read(0)[0][0], rows[0])
    t["memory_footprint_matches_formula"] = alloc().bytes_allocated() == cache_bytes(4, 4, 32, 128, 2, 4)
    return t


def implement_cache(cfg: dict, rec: Recorder) -> dict:
    tests = _cache_tests()
    for i, (name, ok) in enumerate(tests.items()):
        rec.log(i, stage="tests", test=name, passed=int(ok))
    mcfg = MiniGPTConfig(context_len=32)
    attn = CausalSelfAttention(mcfg, rng=np.random.default_rng(cfg["seed"]))
    ref = MultiHeadAttention(64, 4, rng=np.random.default_rng(cfg["seed"]))
    x = Tensor(np.random.default_rng(1).normal(size=(2, 10, 64)).astype(np.float32))
    with no_grad():
        same = np.array_equal(attn(x).data, ref(x, causal=True, rope=attn.rope).data)
    c = KVCache.allocate(layers=2, heads=4, head_dim=16, max_seq=128, batch=1)
    return {"tests_passed": sum(tests.values()), "tests_total": len(tests), "failed": [k for k, v in tests.items() if not v],
            "bytes_match_formula": c.bytes_allocated() == cache_bytes(2, 4, 16, 128, 1, 4) == 131072,
            "uncached_attention_unchanged": bool(same)}


# ---------------------------------------------------------------------- lab 02: equality
PROBE = "es:yo trabajé / en:"  # lab-02's K/V row probe: the es->en prompt of "I worked"


def _prompts(n: int, seed: int) -> list[str]:
    """20 es->en translation prompts, 20 pair-line prefixes, 10 line + prefix pairs, cycled to n (seeded).

    The spine model's own text (engine.lm.text.bilingual pair lines): "es:<spanish> / en:" is the
    prompt it translates from; the prefixes cut anywhere inside a line; the pairs are longer, mixed
    tense and direction (a full es-en line, then the start of an en-es one).
    """
    rng = np.random.default_rng(seed)
    rows = B.unique_cells(B.examples("all"))

    def pick() -> B.Example:
        return rows[int(rng.integers(len(rows)))]

    out = []
    for _ in range(20):
        e = pick()
        out.append(B.translation_prompt(e))
    for _ in range(20):
        t = B.pair_line(pick(), "es-en")
        out.append(t[:int(rng.integers(4, min(12, len(t)) + 1))])
    for _ in range(10):
        a, b = B.pair_line(pick(), "es-en"), B.pair_line(pick(), "en-es")
        out.append(f"{a} {b[:int(rng.integers(4, len(b) + 1))]}")
    return [out[i % len(out)] for i in range(n)] if n <= len(out) else out + out[: n - len(out)]


def cache_equivalence(cfg: dict, rec: Recorder) -> dict:
    n, new = int(cfg["n_prompts"]), int(cfg["max_new_tokens"])
    prompts = _prompts(n, int(cfg["seed_prompt_sampler"]))
    _, tok, _ = spine_numpy.load(bool(cfg["quick"]))
    longest = max(len(tok.encode(p, eos=False)) for p in [*prompts, PROBE])
    model, _, cks = spine_numpy.load(bool(cfg["quick"]), context_len=longest + new + 1)  # RoPE: no new weights
    model_name = spine_numpy.record(rec, cks)
    off = cfg.get("fault") == FAULT
    c = model.cfg
    cache = KVCache.allocate(layers=c.n_layers, heads=c.n_heads, head_dim=c.d_head, max_seq=c.context_len + 1,
                             off_by_one=off)
    same, first_div = 0, []
    with blas_threads(1):
        for i, p in enumerate(prompts):
            ids = tok.encode(p, eos=False)
            a = generate(model, ids, new, seed=1000 + i, strategy=Temperature(1.0), cache=cache)
            b = generate(model, ids, new, seed=1000 + i, strategy=Temperature(1.0), cache=None)
            div = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            if div is None and len(a) != len(b):
                div = min(len(a), len(b))
            same += int(div is None)
            first_div.append(-1 if div is None else div)
            rec.log(i, stage="prompts", prompt=p, identical=int(div is None), first_divergence=-1 if div is None else div)
        # the probe prompt: prefill, decode one token, compare every cached row with a full recompute
        ids = tok.encode(PROBE, eos=False)
        kv = KVCache.allocate(layers=c.n_layers, heads=c.n_heads, head_dim=c.d_head, max_seq=c.context_len + 1,
                              off_by_one=off)
        full = KVCache.allocate(layers=c.n_layers, heads=c.n_heads, head_dim=c.d_head, max_seq=c.context_len + 1)
        with no_grad():
            nxt = int(np.argmax(model(np.asarray(ids), cache=kv).data[-1]))
            model(np.asarray([nxt]), cache=kv, start_pos=len(ids))
            model(np.asarray(ids + [nxt]), cache=full)
        # a one-token prompt (just <bos>): the first decode step already has to read the cache
        bos = tok.encode("", eos=False)[:1]
        one_a = generate(model, bos, 16, seed=7, strategy=Temperature(1.0), cache=cache)
        one_b = generate(model, bos, 16, seed=7, strategy=Temperature(1.0), cache=None)
        diffs, scale = [], []
        for layer in range(c.n_layers):
            for a, b in zip(kv.read(layer), full.read(layer), strict=True):
                diffs.append(float(np.abs(a - b).max()))
                scale.append(float(np.abs(b).max()))
    return {"prompts_identical": same, "n_prompts": n, "prompts_diverged": n - same,
            "all_prompts_identical": same == n, "first_divergence_min": min([d for d in first_div if d >= 0], default=-1),
            "kv_rows_max_abs_diff": max(diffs), "kv_rows_byte_identical": max(diffs) == 0.0,
            "kv_rows_max_rel_diff": max(d / s for d, s in zip(diffs, scale, strict=True)), "kv_rows_max_abs_value": max(scale),
            "probe_prompt": PROBE, "probe_next_token": tok.itos[nxt], "max_new_tokens": new, "model": model_name,
            "one_token_prompt_identical": one_a == one_b and len(one_a) > 1}


# ---------------------------------------------------------------------- lab 03: cost curves
def _median_cpu_ms(fns: tuple[Any, ...], reps: int, warmup: int) -> list[float]:
    """Median per-call CPU time of each fn, the calls interleaved rep by rep.

    Thread CPU time, not wall time: the step runs on one BLAS thread, so its CPU time is its
    work, and a busy machine that preempts it does not inflate the number. Interleaving keeps
    cache and frequency effects the same for every fn, so their ratio is fair.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    ts: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, out in zip(fns, ts):
            t0 = time.thread_time_ns()
            fn()
            out.append((time.thread_time_ns() - t0) / 1e6)
    return [statistics.median(t) for t in ts]


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def cost_curves(cfg: dict, rec: Recorder) -> dict:
    points = [int(s) for s in cfg["S_points"]]
    reps, warm = int(cfg["reps_per_point"]), int(cfg["warmup_reps"])
    s_max = max(int(cfg["S_max"]), max(points)) + 1
    mcfg = MiniGPTConfig(context_len=s_max)
    model = MiniGPT(mcfg, rng=np.random.default_rng(cfg["seed"]))  # synthetic weights, phase-17 shapes
    ids = np.random.default_rng(cfg["seed"]).integers(3, 30, s_max)
    cache = KVCache.allocate(layers=mcfg.n_layers, heads=mcfg.n_heads, head_dim=mcfg.d_head, max_seq=s_max)
    rows: list[tuple[int, float, float]] = []
    new_rows: list[int] = []
    mem_err = 0.0
    with no_grad(), blas_threads(1):
        for i, s in enumerate(points):
            cache.reset()
            model(ids[:s], cache=cache)
            used, theory = cache.bytes_used(), cache_bytes(mcfg.n_layers, mcfg.n_heads, mcfg.d_head, s, 1, 4)
            mem_err = max(mem_err, abs(used - theory) / theory)
            rec.log(s, stage="memory", S=s, allocated_bytes=cache.bytes_allocated(), used_bytes_theory=theory,
                    used_bytes_measured=used)

            def cached_step(s: int = s) -> None:
                cache.cursor = [s] * mcfg.n_layers  # rewind: each rep decodes token s against s cached rows
                model(ids[s:s + 1], cache=cache, start_pos=s)

            def full_step(s: int = s) -> None:
                model(ids[:s + 1])

            with_ms, without_ms = _median_cpu_ms((cached_step, full_step), reps, warm)
            new_rows.append(cache.cursor[0] - s)  # counted work: a cached step appends exactly one K/V row
            rows.append((s, with_ms, without_ms))
            rec.log(s, stage="latency", S=s, ms_with_cache=with_ms, ms_without_cache=without_ms)
            rec.progress(i + 1, len(points))
    s_arr = np.asarray([r[0] for r in rows], dtype=np.float64)
    w, wo = np.asarray([r[1] for r in rows]), np.asarray([r[2] for r in rows])
    lin = np.polyfit(s_arr, w, 1)
    quad = np.polyfit(s_arr, wo, 2)
    fit_pts = s_arr < s_arr.max()
    ext_w = np.polyval(np.polyfit(s_arr[fit_pts], w[fit_pts], 1), s_arr.max())
    ext_wo = np.polyval(np.polyfit(s_arr[fit_pts], wo[fit_pts], 2), s_arr.max())
    ext_err = max(abs(ext_w - w[-1]) / w[-1], abs(ext_wo - wo[-1]) / wo[-1])
    slower = [int(s) for s, a, b in rows if a >= b]
    return {"memory_max_relative_error_to_theory": mem_err, "allocated_bytes": cache.bytes_allocated(),
            "latency_with_cache_r2": _r2(w, np.polyval(lin, s_arr)), "latency_without_cache_r2": _r2(wo, np.polyval(quad, s_arr)),
            "with_cache_alpha_ms": float(lin[1]), "with_cache_beta_us_per_token": float(lin[0] * 1000),
            "without_cache_gamma_ns_per_token2": float(quad[0] * 1e6),
            "latency_extrapolation_rel_err": float(ext_err), "cache_slower_at_S": slower,
            "speedup_at_max_S": float(wo[-1] / w[-1]), "S_points": [int(s) for s in s_arr],
            "rows_appended_per_cached_step_min": min(new_rows), "rows_appended_per_cached_step_max": max(new_rows)}
