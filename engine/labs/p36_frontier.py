"""Phase 36 labs: a routed mixture-of-experts FFN against the dense one (lab-00) and the MLA cache
arithmetic at tutor and DeepSeek-V2 scale (lab-01).

Fault `no_aux_loss` (the phase's break): the load-balancing weight is 0, so nothing stops the router
from sending most tokens to one expert.
"""

from __future__ import annotations

from typing import Any

from engine.core.run import Recorder
from engine.lm.models.mla import (
    cache_bytes,
    mha_attention_params,
    mha_values_per_token,
    mla_attention_params,
    mla_values_per_token,
)

GB, MB = 1e9, 1e6


# ---------------------------------------------------------------------- lab 01: MLA math
def mla_math(cfg: dict, rec: Recorder) -> dict:
    b = int(cfg["bytes_per_value"])
    out: dict[str, Any] = {}
    t = cfg["tutor"]
    mha_t = mha_values_per_token(t["layers"], t["heads"], t["d_head"])
    d_model_t = t["heads"] * t["d_head"]
    step = 0
    for d_c, d_rope in t["latents"]:
        mla_t = mla_values_per_token(t["layers"], d_c, d_rope)
        out[f"tutor_ratio_{d_c}_{d_rope}"] = mha_t / mla_t
        out[f"tutor_param_ratio_{d_c}_{d_rope}"] = (mla_attention_params(t["layers"], d_model_t, d_c, d_rope)
                                                    / mha_attention_params(t["layers"], d_model_t))
        for ctx in (8, 16, 32, 64, 128):
            rec.log(step, stage="tutor", context=ctx, latent=f"{d_c}+{d_rope}",
                    mha_mb=cache_bytes(mha_t, ctx, b) / MB, mla_mb=cache_bytes(mla_t, ctx, b) / MB)
            step += 1
    d_c0, d_r0 = t["latents"][0]
    out["tutor_mha_bytes_at_32"] = cache_bytes(mha_t, 32, b)
    out["tutor_mla_bytes_at_32"] = cache_bytes(mla_values_per_token(t["layers"], d_c0, d_r0), 32, b)
    out["tutor_bytes_saved_at_32"] = out["tutor_mha_bytes_at_32"] - out["tutor_mla_bytes_at_32"]

    d = cfg["deepseek"]
    mha_d = mha_values_per_token(d["layers"], d["heads"], d["d_head"])
    mla_d = mla_values_per_token(d["layers"], d["d_c"], d["d_rope"])
    out["deepseek_mha_values_per_token"] = mha_d
    out["deepseek_mla_values_per_token"] = mla_d
    out["deepseek_kv_ratio"] = mha_d / mla_d
    out["deepseek_per_layer_values"] = {"mha": 2 * d["heads"] * d["d_head"], "mla": d["d_c"] + d["d_rope"]}
    for ctx in (1024, 4096, 32768, 131072):
        out[f"deepseek_mha_{ctx // 1024}k_gb"] = cache_bytes(mha_d, ctx, b) / GB
        out[f"deepseek_mla_{ctx // 1024}k_gb"] = cache_bytes(mla_d, ctx, b) / GB
    for i, ctx in enumerate(2 ** k for k in range(8, 18)):
        rec.log(i, stage="deepseek", context=ctx, mha_gb=cache_bytes(mha_d, ctx, b) / GB, mla_gb=cache_bytes(mla_d, ctx, b) / GB)
    out["deepseek_param_ratio"] = (mla_attention_params(d["layers"], d["d_model"], d["d_c"], d["d_rope"])
                                   / mha_attention_params(d["layers"], d["d_model"]))
    out["verdict_for_grammar_tutor"] = (
        f"never: at 32 tokens the tutor's cache is {out['tutor_mha_bytes_at_32']} bytes; MLA would save "
        f"{out['tutor_bytes_saved_at_32']} bytes and add a new attention path to maintain")
    return out


# ---------------------------------------------------------------------- lab 00: MoE vs dense
def _train(cfg: dict, seed: int, moe: bool, alpha: float, rec: Recorder, label: str) -> dict[str, Any]:
    """One model of the pair (engine.lm.train.moe_train); the first seed's evaluations are logged."""
    from engine.lm.train.moe_train import train_pair_member

    def on_eval(step: int, val_loss: float, tokens: Any) -> None:
        if seed != cfg["seeds"][0]:
            return
        rec.log(step, stage="eval", model=label, val_loss=val_loss)
        for e, n in enumerate(tokens if tokens is not None else []):
            rec.log(step, stage="routing", expert=e, tokens=float(n))

    return train_pair_member(d_model=cfg["d_model"], d_ff=cfg["d_ff"], steps=int(cfg["max_steps"]), seed=seed,
                             moe_layer=int(cfg["moe_layer"]), experts=(int(cfg["num_experts"]), int(cfg["top_k"])) if moe else None,
                             alpha=alpha, on_eval=on_eval)


def moe_vs_dense(cfg: dict, rec: Recorder) -> dict:
    import numpy as np

    from engine.core.threads import blas_threads
    from engine.lm.models.moe import MoEFFN, balance_loss_value, top_k_mask
    from engine.scratch.autograd.tensor import Tensor, no_grad

    E, k = int(cfg["num_experts"]), int(cfg["top_k"])
    alpha = 0.0 if cfg.get("fault") == "no_aux_loss" else float(cfg["aux_alpha"])
    out: dict[str, Any] = {"aux_alpha": alpha}
    uniform = np.full(E, 1 / E)
    onehot = np.eye(E)[0]
    out["aux_loss_uniform"] = balance_loss_value(uniform, uniform)
    out["aux_loss_collapsed"] = balance_loss_value(onehot, onehot)
    sizes = [sum(p.data.size for p in MoEFFN(cfg["d_model"], cfg["d_ff"], e, 1).parameters()) for e in (1, 2, 4, 8)]
    out["moe_params_by_experts"] = dict(zip(("1", "2", "4", "8"), sizes, strict=True))
    out["params_grow_with_experts"] = all(b - a == (sizes[1] - sizes[0]) * (eb - ea) for (a, ea), (b, eb)
                                          in zip(zip(sizes, (1, 2, 4, 8), strict=True),
                                                 zip(sizes[1:], (2, 4, 8), strict=True), strict=False))
    probe = MoEFFN(cfg["d_model"], cfg["d_ff"], E, k, rng=np.random.default_rng(cfg["seed"]), router_std=1.0)
    x = Tensor(np.random.default_rng(cfg["seed"] + 1).normal(size=(3, 7, cfg["d_model"])).astype(np.float32))
    with no_grad():
        y = probe(x).data
        probs = (x.data @ probe.router.data.T)
        probs = np.exp(probs - probs.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        chosen = top_k_mask(probs, k)
        gates = probs * chosen / (probs * chosen).sum(-1, keepdims=True)
        manual = sum(gates[..., e:e + 1] * ex(x).data for e, ex in enumerate(probe.experts()))
    out["routing_is_top_k"] = bool((probe.last_mask.sum(1) == k).all() and np.allclose(y, manual, atol=1e-5))  # type: ignore[union-attr]
    # brute force, token by token: the k experts routed to are the k most probable ones, and the
    # layer's balancing loss is E x sum_i f_i P_i from the routing counted here
    flat_p, flat_m = probs.reshape(-1, E), probe.last_mask
    out["routed_experts_are_most_probable"] = bool(all(
        flat_m[t].sum() == k and (flat_m[t].all() or flat_p[t][flat_m[t] == 1].min() >= flat_p[t][flat_m[t] == 0].max())
        for t in range(len(flat_p))))
    f_counted = flat_m.sum(0) / flat_m.sum()
    out["aux_loss_abs_err"] = abs(float(probe.aux.data) - E * float(np.sum(f_counted * flat_p.mean(0))))  # type: ignore[union-attr]
    dense, moe = [], []
    with blas_threads(1):
        for i, seed in enumerate(cfg["seeds"]):
            dense.append(_train(cfg, seed, False, 0.0, rec, "dense"))
            moe.append(_train(cfg, seed, True, alpha, rec, "moe"))
            rec.progress(i + 1, len(cfg["seeds"]))
    for name, runs in (("dense", dense), ("moe", moe)):
        out[f"{name}_params"] = runs[0]["params"]
        out[f"{name}_val_loss"] = float(np.mean([r["val_loss"] for r in runs]))
        out[f"{name}_val_ppl"] = float(np.mean([r["val_ppl"] for r in runs]))
    rec.note(f"wall time per seed: dense {np.mean([r['wall_s'] for r in dense]):.1f} s, "
             f"moe {np.mean([r['wall_s'] for r in moe]):.1f} s (every expert runs on every token here)")
    out["moe_minus_dense_val_loss"] = out["moe_val_loss"] - out["dense_val_loss"]
    out["final_val_loss_finite"] = bool(np.isfinite([r["val_loss"] for r in dense + moe]).all())
    out["max_expert_share"] = float(np.mean([r["max_expert_share"] for r in moe]))
    out["dead_experts"] = int(max(r["dead_experts"] for r in moe))
    out["load_balance_stddev"] = float(np.mean([r["load_balance_stddev"] for r in moe]))
    out["load_balance_stddev_by_seed"] = [r["load_balance_stddev"] for r in moe]
    out["max_expert_share_by_seed"] = [r["max_expert_share"] for r in moe]
    out["max_seed_load_balance_stddev"] = float(max(out["load_balance_stddev_by_seed"]))
    out["slot_share_first_seed"] = moe[0]["slot_share"]
    out["verdict_for_grammar_tutor"] = ("never: the tutor is not parameter-bound; the routed model costs more "
                                        "compute here and its validation loss is not better"
                                        if out["moe_minus_dense_val_loss"] >= -0.01 else
                                        "defer: the routed model was better on this run; check it on more seeds")
    return out
