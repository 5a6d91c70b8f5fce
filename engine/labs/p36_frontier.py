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
    from engine.lm.models.moe import balance_loss_value, grows_linearly, params_by_experts, routing_probe
    from engine.lm.train.moe_train import summarise_pair

    E, k = int(cfg["num_experts"]), int(cfg["top_k"])
    alpha = 0.0 if cfg.get("fault") == "no_aux_loss" else float(cfg["aux_alpha"])
    out: dict[str, Any] = {"aux_alpha": alpha}
    uniform = np.full(E, 1 / E)
    onehot = np.eye(E)[0]
    out["aux_loss_uniform"] = balance_loss_value(uniform, uniform)
    out["aux_loss_collapsed"] = balance_loss_value(onehot, onehot)
    sizes = params_by_experts(cfg["d_model"], cfg["d_ff"])
    out["moe_params_by_experts"] = dict(zip(("1", "2", "4", "8"), sizes, strict=True))
    out["params_grow_with_experts"] = grows_linearly(sizes)
    out.update(routing_probe(cfg["d_model"], cfg["d_ff"], E, k, int(cfg["seed"])))
    dense, moe = [], []
    with blas_threads(1):
        for i, seed in enumerate(cfg["seeds"]):
            dense.append(_train(cfg, seed, False, 0.0, rec, "dense"))
            moe.append(_train(cfg, seed, True, alpha, rec, "moe"))
            rec.progress(i + 1, len(cfg["seeds"]))
    out.update(summarise_pair(dense, moe))
    rec.note(f"wall time per seed: dense {np.mean([r['wall_s'] for r in dense]):.1f} s, "
             f"moe {np.mean([r['wall_s'] for r in moe]):.1f} s (every expert runs on every token here)")
    out["verdict_for_grammar_tutor"] = ("never: the tutor is not parameter-bound; the routed model costs more "
                                        "compute here and its validation loss is not better"
                                        if out["moe_minus_dense_val_loss"] >= -0.01 else
                                        "defer: the routed model was better on this run; check it on more seeds")
    return out
