"""Phase 27 labs: the online softmax against a float64 oracle, bytes moved by naive and tiled
(Flash) attention counted and compared with the course's formulas, and GQA/MQA on the course's model
(the phase-18 spine checkpoint as the NumPy twin, engine.lm.models.spine_numpy, scored on the
bilingual pair lines of its training verbs; the manifest names the checkpoint and tokenizer).

Fault `kv_heads_one` (the phase's break, on lab-04): the GQA-2 model is forced down to a single
KV head (MQA); the cache halves exactly and perplexity rises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.lm.models.flash import (
    ROUNDERS,
    ByteCounter,
    attention_flops,
    bytes_flash,
    bytes_naive,
    naive_attention,
    online_softmax_attention,
    softmax_batched,
    softmax_reference,
    tiled_attention,
)
from engine.systems.hardware.roofline import ROOF, Roofline, chart_rows

FAULT = "kv_heads_one"


# ---------------------------------------------------------------------- lab 00: online softmax
def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - b).max())


def online_softmax(cfg: dict, rec: Recorder) -> dict:
    rng = np.random.default_rng(cfg["seed"])
    n, d, rows = cfg["n"], cfg["d"], cfg["rows"]
    s = rng.normal(0.0, cfg["score_std"], (rows, n)).astype(np.float32)
    V = rng.normal(size=(n, d)).astype(np.float32)
    out: dict[str, Any] = {}
    step = 0
    for dtype in cfg["dtypes"]:
        r = ROUNDERS[dtype]
        ref = softmax_reference(r(s), r(V))  # oracle on the same rounded inputs
        errs = []
        for chunk in cfg["chunk_sizes"]:
            e = _err(online_softmax_attention(s, V, chunk, dtype, cfg["accumulator"]), ref)
            errs.append(e)
            rec.log(step, stage="sweep", dtype=dtype, chunk_size=chunk, max_abs_err=e)
            step += 1
        out[f"{dtype}_max_abs_err"] = max(errs)
        out[f"{dtype}_err_by_chunk"] = dict(zip(map(str, cfg["chunk_sizes"]), errs, strict=True))
        out[f"{dtype}_batched_err"] = _err(softmax_batched(s, V, dtype), ref)
    # wider scores (std 5, the course's verb-realistic scale) make fp32 chunk-1 error grow
    s5 = rng.normal(0.0, 5.0, (rows, n)).astype(np.float32)
    out["fp32_chunk1_err_score_std5"] = _err(online_softmax_attention(s5, V, 1), softmax_reference(s5, V))
    # the same recurrence with the running state in fp16 too: chunk size now matters
    ref16 = softmax_reference(ROUNDERS["fp16"](s), ROUNDERS["fp16"](V))
    out["fp16_pure_state_err_by_chunk"] = {
        str(c): _err(online_softmax_attention(s, V, c, "fp16", "same"), ref16) for c in cfg["chunk_sizes"]}

    # pathological rows, fp32, chunk 16
    chunk = 16
    equal = np.zeros((1, n), dtype=np.float32)
    out["all_equal_scores_err"] = _err(online_softmax_attention(equal, V, chunk), V.astype(np.float64).mean(0))
    huge = np.zeros((1, n), dtype=np.float32)
    huge[0, n // 3] = 60.0
    negative = np.full((1, n), -100.0, dtype=np.float32)
    negative[0, n - 1] = 0.0
    out["one_hot_scores_err"] = max(_err(online_softmax_attention(huge, V, chunk), V[n // 3].astype(np.float64)),
                                    _err(online_softmax_attention(negative, V, chunk), V[n - 1].astype(np.float64)))
    # the course's worked example [1, 2, 3, 10], one score at a time: the weights still sum to one
    ex = np.array([[1.0, 2.0, 3.0, 10.0]], dtype=np.float32)
    out["worked_example_weight_sum"] = float(online_softmax_attention(ex, np.ones((4, 1), np.float32), 1)[0, 0])
    # verb-sized input: s ~ N(0, 5), V (64, 64), chunk 16
    s_v, V_v = rng.normal(0, 5, (1, 64)).astype(np.float32), rng.normal(size=(64, 64)).astype(np.float32)
    out["verb_sized_fp32_err"] = _err(online_softmax_attention(s_v, V_v, 16), softmax_reference(s_v, V_v))
    return out


# ---------------------------------------------------------------------- lab 01: bytes moved
def bytes_moved(cfg: dict, rec: Recorder) -> dict:
    rng = np.random.default_rng(cfg["seed"])
    b_r, b_c, db = cfg["b_r"], cfg["b_c"], cfg["dtype_bytes"]
    out: dict[str, Any] = {}
    rel_errs, max_out_err = [], 0.0
    for step, (n, d) in enumerate(cfg["cases"]):
        f_naive, f_flash, flops = bytes_naive(n, d, db), bytes_flash(n, d, b_r, db), attention_flops(n, d)
        row: dict[str, Any] = {"n": n, "d": d, "bytes_naive": f_naive, "bytes_flash": f_flash,
                               "intensity_ratio": f_naive / f_flash,
                               "intensity_naive": flops / f_naive, "intensity_flash": flops / f_flash}
        if n <= cfg["count_max_n"]:
            Q, K, V = (rng.normal(size=(n, d)).astype(np.float32) for _ in range(3))
            cn, cf = ByteCounter(), ByteCounter()
            o_naive = naive_attention(Q, K, V, cn)
            o_flash, _ = tiled_attention(Q, K, V, b_r, b_c, cf)
            max_out_err = max(max_out_err, float(np.abs(o_naive - o_flash).max()))
            row.update(counted_naive=cn.bytes(db), counted_flash=cf.bytes(db),
                       counted_ratio=cn.bytes(db) / cf.bytes(db))
            rel_errs += [abs(cn.bytes(db) - f_naive) / f_naive, abs(cf.bytes(db) - f_flash) / f_flash]
        rec.log(step, stage="sweep", **row)
        out[f"intensity_ratio_n{n}_d{d}"] = row["intensity_ratio"]
        if "counted_ratio" in row:
            out[f"counted_ratio_n{n}_d{d}"] = row["counted_ratio"]
    # the course's two questions, from its formulas, whatever cases were swept
    out["intensity_ratio_n4096_d64"] = bytes_naive(4096, 64, db) / bytes_flash(4096, 64, b_r, db)
    out["intensity_ratio_n8192_d128"] = bytes_naive(8192, 128, db) / bytes_flash(8192, 128, b_r, db)
    out["large_n_limit_2br_over_d64"] = 2 * b_r / 64
    out["counted_vs_formula_rel_err_max"] = max(rel_errs)
    out["counted_cases"] = len(rel_errs) // 2
    out["flash_vs_naive_max_abs_err"] = max_out_err
    out.update(_counted_hand_case())

    roof = Roofline(cfg["roofline"]["peak_gflops"], cfg["roofline"]["bandwidth_gbs"])
    points = []
    for n in cfg["roofline_n"]:
        d = 64
        for variant, b in (("naive", bytes_naive(n, d, db)), ("flash", bytes_flash(n, d, b_r, db))):
            intensity = attention_flops(n, d) / b
            points.append({"name": f"{variant} N={n}", "intensity": intensity, "gflops": roof.attainable(intensity)})
            out[f"roofline_{variant}_n{n}_bound"] = roof.bound(intensity)
    for step, row in enumerate(chart_rows([(ROOF, roof.curve())], points)):
        rec.log(step, stage="roofline", **row)
    return out


def _counted_hand_case(n: int = 64, d: int = 16, b: int = 16) -> dict[str, float]:
    """Elements moved at N = 64, d = 16, tiles of 16, counted from the code, against a count by hand:
    naive reads Q, K, V (3Nd), writes and reads back S and P (4N^2), writes O (Nd); the tiled order
    reads Q once, K and V once per query tile (2Nd N/b), writes O and the N log-sum-exps. Also the
    tiled kernel's log-sum-exp against a float64 one computed in one shot."""
    rng = np.random.default_rng(0)
    Q, K, V = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    cn, cf = ByteCounter(), ByteCounter()
    naive_attention(Q, K, V, cn)
    _, lse = tiled_attention(Q, K, V, b, b, cf)
    s = Q.astype(np.float64) @ K.T.astype(np.float64) / np.sqrt(d)
    m = s.max(1, keepdims=True)
    ref = (m + np.log(np.exp(s - m).sum(1, keepdims=True)))[:, 0]
    return {"naive_elements_hand_case_diff": (cn.reads + cn.writes) - (4 * n * d + 4 * n * n),
            "flash_elements_hand_case_diff": (cf.reads + cf.writes) - (2 * n * d + (n // b) * 2 * n * d + n),
            "tiled_lse_max_abs_err": float(np.abs(lse - ref).max())}


def _gqa_reference_err(d_model: int, n_heads: int, kv: int, seed: int) -> float:
    """GQA written out in NumPy: K/V heads are group means of the MHA heads, query head h reads KV
    head h // (H / kv); causal softmax; concat; W_o. Against engine.lm.models.gqa.from_mha (no RoPE)."""
    from engine.lm.models.gpt import CausalSelfAttention, MiniGPTConfig
    from engine.lm.models.gqa import from_mha

    rng = np.random.default_rng(seed)
    csa = CausalSelfAttention(MiniGPTConfig(d_model=d_model, n_heads=n_heads, rope=False), rng=rng, dtype=np.float64)
    x = rng.normal(size=(1, 10, d_model))
    got = from_mha(csa, kv)(x).data[0]
    dh, group, t = d_model // n_heads, n_heads // kv, x.shape[1]
    cols = lambda w, h: w[:, h * dh:(h + 1) * dh]  # noqa: E731
    wq, wk, wv, wo = (getattr(csa, n).data for n in ("W_q", "W_k", "W_v", "W_o"))
    heads = []
    for h in range(n_heads):
        g = h // group
        k = x[0] @ np.mean([cols(wk, j) for j in range(g * group, (g + 1) * group)], axis=0)
        v = x[0] @ np.mean([cols(wv, j) for j in range(g * group, (g + 1) * group)], axis=0)
        s = (x[0] @ cols(wq, h)) @ k.T / np.sqrt(dh) + np.where(np.tri(t, dtype=bool), 0.0, -np.inf)
        p = np.exp(s - s.max(1, keepdims=True))
        heads.append((p / p.sum(1, keepdims=True)) @ v)
    return float(np.abs(got - np.concatenate(heads, axis=1) @ wo).max())


# ---------------------------------------------------------------------- lab 04: GQA / MQA
def _mha_equivalence(d_model: int, n_heads: int, seed: int) -> float:
    """GQA with n_kv_heads = n_heads against phase 15's MultiHeadAttention (causal, no RoPE)."""
    from engine.lm.models.attention_ref import MultiHeadAttention
    from engine.lm.models.gpt import CausalSelfAttention, MiniGPTConfig
    from engine.lm.models.gqa import from_mha

    rng = np.random.default_rng(seed)
    ref = MultiHeadAttention(d_model, n_heads, rng=rng)
    csa = CausalSelfAttention(MiniGPTConfig(d_model=d_model, n_heads=n_heads, rope=False), rng=rng)
    for name in ("W_q", "W_k", "W_v", "W_o"):
        getattr(csa, name).data[...] = getattr(ref, name).data
    x = rng.normal(size=(2, 12, d_model)).astype(np.float32)
    gqa = from_mha(csa, n_heads)
    return float(np.abs(gqa(x).data - ref(x, causal=True).data).max())


def _pair_texts(n: int | None = None) -> list[str]:
    """The spine's own lines: "es:<spanish> / en:<english>" for every distinct cell of the training verbs."""
    from engine.lm.text import bilingual as B

    rows = B.unique_cells(B.examples("train"))
    return [B.pair_line(e) for e in rows[:n]]


def gqa_kv_cache(cfg: dict, rec: Recorder) -> dict:
    from engine.lm.eval.gqa_probe import measure_variant, ppl_of
    from engine.lm.models import spine_numpy
    from engine.lm.models.gqa import kv_bytes_per_token
    from engine.lm.train.data import make_batch

    H, L, dh, nb = cfg["n_heads"], cfg["n_layers"], cfg["d_head"], cfg["dtype_bytes"]
    base, tok, cks = spine_numpy.load(quick=bool(cfg["quick"]))
    spine_numpy.record(rec, cks)
    if (base.cfg.n_heads, base.cfg.n_layers, base.cfg.d_head) != (H, L, dh):
        raise ValueError(f"config (H, L, d_head) = {(H, L, dh)} does not match the spine model {base.cfg}")
    texts = _pair_texts()
    ids, *_ = make_batch([tok.encode(t) for t in texts[: cfg["kv_probe_sentences"]]])
    ids = ids[:, : min(ids.shape[1], cfg["seq_len"], base.cfg.context_len)]
    gqa_kv = 1 if cfg.get("fault") == FAULT else cfg["gqa_kv_heads"]  # the break forces GQA down to one KV head
    out: dict[str, Any] = {}
    v = {}
    for step, (name, kv) in enumerate({"mha": H, "gqa": gqa_kv, "mqa": 1}.items()):
        v[name] = m = measure_variant(base, kv, tok, texts, ids, nb)
        rec.log(step, stage="variants", variant=name, kv_heads=kv, kv_bytes_per_token=m.kv_bytes_per_token,
                formula_bytes_per_token=m.formula_bytes_per_token, ppl=m.ppl)
        for h, e in enumerate(m.head_entropy):
            rec.log(h, stage="entropy", variant=name, head=h, entropy=float(e))
        out.update({f"{name}_kv_heads": kv, f"{name}_kv_bytes_per_token": m.kv_bytes_per_token, f"{name}_ppl": m.ppl,
                    f"{name}_head_entropy_spread": float(m.head_entropy.max() - m.head_entropy.min()),
                    f"{name}_k_projection_shape": m.k_projection_shape})
    out["kv_bytes_rel_err_max"] = max(abs(m.kv_bytes_per_token - m.formula_bytes_per_token) / m.formula_bytes_per_token
                                      for m in v.values())
    out["mha_equivalence_max_err"] = _mha_equivalence(H * dh, H, cfg["seed"])
    out["gqa2_vs_reference_max_err"] = _gqa_reference_err(H * dh, H, 2, cfg["seed"])
    out["mqa_param_drop"] = v["mha"].attn_params - v["mqa"].attn_params
    out["mqa_param_drop_matches_formula"] = out["mqa_param_drop"] == 2 * (H - 1) * dh * (H * dh)
    out["mqa_ppl_change_pct"] = 100 * (v["mqa"].ppl / v["mha"].ppl - 1)
    out["gqa_ppl_change_pct"] = 100 * (v["gqa"].ppl / v["mha"].ppl - 1)
    # the break's view: the model labelled GQA against a true GQA-2 conversion of the same weights
    ref2 = v["gqa"].ppl if gqa_kv == 2 else ppl_of(base, tok, texts, 2)
    out["kv_bytes_ratio_vs_gqa2"] = kv_bytes_per_token(L, gqa_kv, dh, nb) / kv_bytes_per_token(L, 2, dh, nb)
    out["ppl_change_pct_vs_gqa2"] = 100 * (v["gqa"].ppl / ref2 - 1)
    return out


