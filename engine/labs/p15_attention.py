"""Phase 15 labs: attention by hand, multi-head equivalence, the causal-mask test, a timing profile.

The maths lives in engine.lm.models.attention_ref; these functions are glue and measurements.
Fault `no_sqrt_dk` (the phase's break) drops the 1/sqrt(d_k) scale from lab 00's scaled path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.labs._heatmaps import heatmap_grid
from engine.lm.models.attention_ref import (
    MultiHeadAttention,
    attention,
    causal_mask,
    row_entropy,
    single_head_attention,
)

# Theory 05: the length-4 example, W_Q = W_K = 0.5 I, W_V = I, causal. The course printed some
# wrong dot products; these are the recomputed values (4 decimals) that the code must match.
WORKED_X = np.array([[.5, .3, -.2, .1], [-.1, .4, .2, -.3], [.2, -.1, .5, .1], [0, 0, 0, .2]])
WORKED_A_ROWS = {1: [0.4906, 0.5094], 2: [0.3283, 0.3295, 0.3421]}
WORKED_Y3 = [0.1505, 0.1493, 0.1247, 0.0259]
CANONICAL = ["<bos>", "I", "work", ",", "you", "work", ",", "he"]


def _paper_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    """The derivation written as loops over scalars, the way it is done on paper: the independent reference."""
    T, d_k = q.shape
    out = np.zeros((T, v.shape[1]))
    for i in range(T):
        seen = range(i + 1) if causal else range(T)
        scores = [sum(q[i, c] * k[j, c] for c in range(d_k)) / math.sqrt(d_k) for j in seen]
        top = max(scores)
        ex = [math.exp(s - top) for s in scores]
        total = sum(ex)
        for j, e in zip(seen, ex, strict=True):
            out[i] += (e / total) * v[j]
    return out


def _rowmax_stats(T: int, d_k: int, seeds: int, scale: bool) -> tuple[float, float, float]:
    """Mean row maximum, score std and the mean |d out / d scores| for X ~ N(0, 1), orthogonal W_Q, W_K."""
    rowmax, score_std, grad = [], [], []
    for s in range(seeds):
        rng = np.random.default_rng(s)
        x = rng.standard_normal((T, d_k))
        wq = np.linalg.qr(rng.standard_normal((d_k, d_k)))[0]
        wk = np.linalg.qr(rng.standard_normal((d_k, d_k)))[0]
        q, k = x @ wq, x @ wk
        _, w = attention(q, k, x, scale=scale)
        p = w.data
        rowmax.append(p.max(-1).mean())
        score_std.append(((q @ k.T) * (1 / math.sqrt(d_k) if scale else 1.0)).std())
        # softmax Jacobian diag(p) - p p^T: its Frobenius norm per row is how much gradient gets through
        jac = [np.linalg.norm(np.diag(r) - np.outer(r, r)) for r in p]
        grad.append(float(np.mean(jac)))
    return float(np.mean(rowmax)), float(np.mean(score_std)), float(np.mean(grad))


def attention_by_hand(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: the worked length-4 example, the T = 2 toy, then scaled vs unscaled softmax at d_k = 64."""
    x = WORKED_X
    q, k, v = 0.5 * x, 0.5 * x, x
    mask = causal_mask(4, dtype=np.float64)
    y = single_head_attention(q, k, v, mask)
    _, w = attention(q, k, v, mask)
    a = w.data
    printed = [abs(a[i, j] - val) for i, row in WORKED_A_ROWS.items() for j, val in enumerate(row)]
    printed += [abs(y[3, j] - val) for j, val in enumerate(WORKED_Y3)]
    paper = _paper_attention(q, k, v, causal=True)
    # the T = 2 toy of theory 01: scores [[0, 1], [1, 0]] (Q = I, K = sqrt(2) * swap), V0 = (2, 0), V1 = (0, 3)
    toy = single_head_attention(np.eye(2), math.sqrt(2) * np.array([[0.0, 1.0], [1.0, 0.0]]),
                                np.array([[2.0, 0.0], [0.0, 3.0]]))
    out: dict[str, Any] = {
        "worked_example_max_abs_diff": float(max(printed)),
        "paper_vs_code_max_abs_diff": float(np.abs(paper - y).max()),
        "worked_rows_sum_to_one_max_err": float(np.abs(a.sum(-1) - 1).max()),
        "toy_t2_row0_max_abs_diff": float(np.abs(toy[0] - [0.54, 2.19]).max()),
    }
    for i in range(4):
        rec.note(f"A[{i}] = {np.array2string(a[i], precision=4)}   Y[{i}] = {np.array2string(y[i], precision=4)}")

    T, d_k, seeds = int(cfg["T"]), int(cfg["d_k"]), int(cfg["n_seeds"])
    scaled_path = cfg.get("fault") != "no_sqrt_dk"
    rs, ss, gs = _rowmax_stats(T, d_k, seeds, scale=scaled_path)
    ru, su, gu = _rowmax_stats(T, d_k, seeds, scale=False)
    out.update({
        "rowmax_scaled_mean": rs, "rowmax_unscaled_mean": ru, "rowmax_unscaled_minus_scaled": ru - rs,
        "uniform_row_weight": 1.0 / T, "score_std_scaled": ss, "score_std_unscaled": su,
        "softmax_jacobian_norm_scaled": gs, "softmax_jacobian_norm_unscaled": gu,
    })
    # the break's detection: score spread and row maximum against d_k, with and without the scale
    for i, dk in enumerate(cfg["d_k_sweep"]):
        n = max(seeds // 4, 5)  # the sweep is a picture; the headline numbers above use every seed
        for j, (label, sc) in enumerate((("scaled", scaled_path), ("unscaled", False))):
            r, s, g = _rowmax_stats(T, int(dk), n, scale=sc)
            rec.log(2 * i + j, stage="d_k_sweep", path=label, d_k=int(dk), score_std=s, rowmax=r, jacobian_norm=g)
    return out


def token_vectors(tokens: list[str], d: int, seed: int) -> np.ndarray:
    """One fixed N(0, 1) vector per distinct token (repeated tokens share it), in first-seen order."""
    vocab = list(dict.fromkeys(tokens))
    table = np.random.default_rng(seed).standard_normal((len(vocab), d)).astype(np.float32)
    return table[[vocab.index(t) for t in tokens]]


def multi_head(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: a one-head MHA equals single-head attention then W_O; four untrained heads on the canonical sentence."""
    small = MultiHeadAttention(4, 1, seed=42)
    xs = np.random.default_rng(cfg["seed"]).standard_normal((5, 4)).astype(np.float32)
    w = {n: getattr(small, n).data for n in ("W_q", "W_k", "W_v", "W_o")}
    ref = single_head_attention(xs @ w["W_q"], xs @ w["W_k"], xs @ w["W_v"]) @ w["W_o"]
    eq_plain = float(np.abs(small(xs).data - ref).max())
    mask = causal_mask(5)
    ref_c = single_head_attention(xs @ w["W_q"], xs @ w["W_k"], xs @ w["W_v"], mask) @ w["W_o"]
    eq_causal = float(np.abs(small(xs, mask).data - ref_c).max())

    d, h = int(cfg["d_model"]), int(cfg["n_heads"])
    tokens = str(cfg["input_snippet"]).split()
    mha = MultiHeadAttention(d, h, seed=int(cfg["seed"]))
    x = token_vectors(tokens, d, int(cfg["seed"]))
    y = mha(x, causal=True)
    weights = mha.last_weights
    assert weights is not None
    ent = row_entropy(weights)
    for head in range(h):
        rec.log(head, stage="heads", head=head, mean_row_entropy=float(ent[head].mean()),
                mean_row_max=float(weights[head].max(-1).mean()))
    pair_diffs = [float(np.abs(weights[a] - weights[b]).mean()) for a in range(h) for b in range(a + 1, h)]
    # independent reference: each head as single-head attention on its own column block, concatenated, then W_O
    wt = {n: getattr(mha, n).data.astype(np.float64) for n in ("W_q", "W_k", "W_v", "W_o")}
    dh, xd = d // h, x.astype(np.float64)
    cols = [slice(i * dh, (i + 1) * dh) for i in range(h)]
    per_head = [single_head_attention(xd @ wt["W_q"][:, c], xd @ wt["W_k"][:, c], xd @ wt["W_v"][:, c],
                                      causal_mask(len(tokens), dtype=np.float64)) for c in cols]
    loop_ref = np.concatenate(per_head, axis=1) @ wt["W_o"]
    png = heatmap_grid([(f"head {i}", weights[i]) for i in range(h)], rec.out_dir / "heatmap.png",
                       ncols=2, ticks=tokens, vmin=0.0, vmax=1.0, suptitle="untrained causal heads")
    rec.artifact(png, "chart")
    above = np.triu(np.ones((len(tokens), len(tokens)), bool), k=1)
    return {
        "single_head_equivalence_max_diff": max(eq_plain, eq_causal),
        "multi_head_vs_per_head_loop_max_diff": float(np.abs(y.data - loop_ref).max()),
        "attention_rows_sum_to_one_max_err": float(np.abs(weights.sum(-1) - 1).max()),
        "future_weight_max": float(weights[:, above].max()),
        "heads_min_pairwise_mean_abs_diff": min(pair_diffs) if pair_diffs else 0.0,
        "num_parameters": mha.num_parameters(),
        "param_count_is_4_d_squared": mha.num_parameters() == 4 * d * d,
        "output_shape": list(y.shape),
    }


def causal_mask_test(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: change only the last token; earlier outputs must not move. A post-softmax mask fails the test."""
    T, d, h = int(cfg["T"]), int(cfg["d_model"]), int(cfg["n_heads"])
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((T, d)).astype(np.float32)
    x2 = x.copy()
    x2[-1] = rng.standard_normal(d).astype(np.float32)
    out: dict[str, Any] = {}
    weights: dict[str, np.ndarray] = {}
    for mode, key in (("additive", "correct"), ("post_softmax", "post_softmax_mask")):
        mha = MultiHeadAttention(d, h, seed=int(cfg["seed"]), mask_mode=mode)
        y, y2 = mha(x, causal=True).data, mha(x2, causal=True).data
        assert mha.last_weights is not None
        weights[key] = mha.last_weights
        diff = np.abs(y - y2).max(axis=1)
        for t in range(T):
            rec.log(t, stage="perturb", mask=key, position=t, max_abs_diff=float(diff[t]))
        prefix = "correct_perturbation" if key == "correct" else key
        out[f"{prefix}_max_diff_positions_0_{T - 2}"] = float(diff[:-1].max())
        out[f"{key}_rows_sum_min"] = float(mha.last_weights.sum(-1).min())
        if key == "correct":
            out["last_position_diff"] = float(diff[-1])
    # keep the YAML's fixed names when T is the course's 8
    out["correct_perturbation_max_diff_positions_0_6"] = out[f"correct_perturbation_max_diff_positions_0_{T - 2}"]
    out["post_softmax_mask_max_diff_positions_0_6"] = out[f"post_softmax_mask_max_diff_positions_0_{T - 2}"]
    png = heatmap_grid([("additive mask (0 / -1e9)", (causal_mask(T) == 0).astype(float)),
                        ("pre-softmax mask, head 0", weights["correct"][0]),
                        ("post-softmax mask, head 0", weights["post_softmax_mask"][0])],
                       rec.out_dir / "mask_visual.png", ncols=3, vmin=0.0, vmax=1.0)
    rec.artifact(png, "chart")
    return out


# ---------------------------------------------------------------------- lab 03: timing profile
def _stage_costs(T: int, d: int, h: int) -> dict[str, tuple[float, float]]:
    """(FLOPs, bytes) per stage in fp32, counting every operand read and the result written once."""
    dk = d // h
    proj = (2.0 * T * d * d, 4.0 * (2 * T * d + d * d))
    return {
        "qkv_proj": (3 * proj[0], 3 * proj[1]),
        "scores": (h * 2.0 * T * T * dk, h * 4.0 * (2 * T * dk + T * T)),
        "softmax": (h * 5.0 * T * T, h * 8.0 * T * T),
        "av": (h * 2.0 * T * T * dk, h * 4.0 * (T * T + 2 * T * dk)),
        "out_proj": proj,
    }


def _time_stages(mha: MultiHeadAttention, T: int, min_s: float) -> tuple[dict[str, float], float, float]:
    """Milliseconds per call for each stage, for the whole NumPy forward and for the autograd module."""
    from engine.scratch.autograd.tensor import no_grad
    from engine.systems.hardware.timing import time_call

    d, h = mha.d_model, mha.n_heads
    dk = d // h
    wq, wk, wv, wo = (getattr(mha, n).data for n in ("W_q", "W_k", "W_v", "W_o"))
    x = np.random.default_rng(T).standard_normal((T, d)).astype(np.float32)
    mask = causal_mask(T)
    inv = np.float32(1.0 / math.sqrt(dk))

    def heads(a: np.ndarray) -> np.ndarray:
        return a.reshape(T, h, dk).transpose(1, 0, 2)

    def softmax(a: np.ndarray) -> np.ndarray:
        e = np.exp(a - a.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    q, k, v = heads(x @ wq), heads(x @ wk), heads(x @ wv)
    s = q @ k.transpose(0, 2, 1) * inv + mask
    p = softmax(s)
    y = (p @ v).transpose(1, 0, 2).reshape(T, d)

    def full() -> np.ndarray:
        qq, kk, vv = heads(x @ wq), heads(x @ wk), heads(x @ wv)
        return (softmax(qq @ kk.transpose(0, 2, 1) * inv + mask) @ vv).transpose(1, 0, 2).reshape(T, d) @ wo

    def engine_forward() -> None:
        with no_grad():
            mha(x, causal=True)

    stages = {
        "qkv_proj": lambda: [heads(x @ w) for w in (wq, wk, wv)],
        "scores": lambda: q @ k.transpose(0, 2, 1) * inv + mask,
        "softmax": lambda: softmax(s),
        "av": lambda: (p @ v).transpose(1, 0, 2).reshape(T, d),
        "out_proj": lambda: y @ wo,
    }
    ms = {name: time_call(fn, min_time_s=min_s).best_s * 1e3 for name, fn in stages.items()}
    return ms, time_call(full, min_time_s=min_s).best_s * 1e3, time_call(engine_forward, min_time_s=min_s).best_s * 1e3


def perf_profile(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: time each stage of a NumPy MHA forward for each T; place the stages on a measured roofline."""
    from engine.systems.hardware.bandwidth import copy_bandwidth
    from engine.systems.hardware.peak import matmul_gflops
    from engine.systems.hardware.roofline import Roofline, register_op

    d, h = int(cfg["d_model"]), int(cfg["n_heads"])
    min_s = float(cfg["min_ms_per_measurement"]) / 1000.0
    mha = MultiHeadAttention(d, h, seed=int(cfg["seed"]))
    beta = copy_bandwidth(64 * 1024**2, min_time_s=max(min_s, 0.05))["gbs"]
    peak = matmul_gflops(512, min_time_s=max(min_s, 0.05))["gflops"]
    roof = Roofline(peak, beta)
    out: dict[str, Any] = {"bandwidth_gbs": beta, "peak_gflops": peak, "ridge": roof.ridge}
    sweep = [int(t) for t in cfg["T_sweep"]]
    for i, T in enumerate(sweep):
        ms, total, engine_ms = _time_stages(mha, T, min_s)
        rec.log(i, stage="sweep", T=T, total_ms=total, engine_mha_ms=engine_ms, **{f"{n}_ms": v for n, v in ms.items()})
        for j, (name, (flops, nbytes)) in enumerate(_stage_costs(T, d, h).items()):
            sec = ms[name] / 1e3
            inten, gf = flops / nbytes, flops / sec / 1e9
            register_op(f"attn {name} T={T}", flops, nbytes, sec, source="phase-15")
            rec.log(100 * (i + 1) + j, stage="roofline", op=f"{name} T={T}", T=T, intensity=inten, gflops=gf,
                    fraction_of_roof=gf / roof.attainable(inten))
            out[f"{name}_fraction_of_roof_T{T}"] = gf / roof.attainable(inten)
        out[f"stage_sum_over_total_T{T}"] = sum(ms.values()) / total
        out[f"dominant_stage_T{T}"] = max(ms, key=lambda n: ms[n])
        out[f"total_ms_T{T}"] = total
        rec.progress(i + 1, len(sweep))
    t_max = sweep[-1]
    out["stage_sum_over_total"] = min(out[f"stage_sum_over_total_T{t}"] for t in sweep)
    out["softmax_fraction_of_roof_max_T"] = out[f"softmax_fraction_of_roof_T{t_max}"]
    out["max_T"] = t_max
    return out
