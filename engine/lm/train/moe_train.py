"""Dense against routed: the phase-18 Mini-GPT recipe with one block's FFN swapped for an MoE.

`train_pair_member(...)` trains one model with engine.lm.train.loop.train_step (warmup + cosine
AdamW, clipping) and, for the MoE model, alpha x the balancing loss added through train_step's
`aux`. It counts how many real (non-padding) tokens each expert served per logging window and,
after training, the routing of every real validation token: the numbers phase 36 reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.lm.models.moe import MoEFFN
from engine.lm.train.data import PAD, make_batch
from engine.lm.train.loop import evaluate, train_step
from engine.lm.train.optim import GroupedAdamW
from engine.lm.train.recipe import QUICK, datasets, deep_merge, make_state
from engine.scratch.autograd.tensor import no_grad


def recipe(d_model: int, d_ff: int, steps: int, seed: int) -> dict[str, Any]:
    """The quick phase-18 recipe at this width, warmup a tenth of `steps`, seeded data and init."""
    return deep_merge(QUICK, {"model": {"d_model": d_model, "d_ff": d_ff},
                              "scheduler": {"warmup_steps": max(1, steps // 10), "total_steps": steps},
                              "training": {"rng_seed": seed, "data_seed": seed}})


def train_pair_member(*, d_model: int, d_ff: int, steps: int, seed: int, moe_layer: int,
                      experts: tuple[int, int] | None, alpha: float,
                      on_eval: Callable[[int, float, np.ndarray | None], None] | None = None) -> dict[str, Any]:
    """Train the dense model (`experts=None`) or the MoE one (`experts=(E, top_k)`).

    `on_eval(step, val_loss, tokens_per_expert or None)` is called about 20 times. Returns val
    loss and perplexity, wall seconds, parameter count and, for the MoE model, the validation
    routing: slot shares, tokens per expert, max share, dead experts, spread of the shares.
    """
    config = recipe(d_model, d_ff, steps, seed)
    data = datasets(config)
    state = make_state(config, data["train"])
    layer: MoEFFN | None = None
    if experts is not None:
        layer = MoEFFN(d_model, d_ff, experts[0], experts[1], rng=np.random.default_rng(seed + 1))
        state.model.blocks[moe_layer].ffn = layer
    oc = state.opt_cfg  # rebuilt so the optimiser holds the swapped-in parameters
    state.opt = GroupedAdamW(state.model.named_parameters(), lr=oc["lr_max"], betas=(oc["beta1"], oc["beta2"]),
                             eps=oc["eps"], weight_decay=oc["weight_decay"])
    aux = (lambda: layer.aux * alpha) if layer is not None and alpha > 0 else None  # type: ignore[operator]
    every = max(1, steps // 20)
    window = np.zeros(experts[0] if experts else 0)
    t0 = time.perf_counter()
    while state.step < steps:
        train_step(state, aux)
        if layer is not None:
            window += layer.last_mask[(state.extra["inputs"] != PAD).reshape(-1)].sum(0)  # type: ignore[index]
        if state.step % every == 0 or state.step == steps:
            if on_eval is not None:
                on_eval(state.step, evaluate(state.model, data["val"])[0], window.copy() if layer is not None else None)
            window[:] = 0
    wall = time.perf_counter() - t0
    val_loss, val_ppl = evaluate(state.model, data["val"])
    out: dict[str, Any] = {"val_loss": val_loss, "val_ppl": val_ppl, "wall_s": wall,
                           "params": sum(p.data.size for p in state.model.parameters())}
    if layer is not None:  # routing of every real validation token after training
        inp, _, _, am = make_batch(data["val"])
        with no_grad():
            state.model(inp, pad_mask=am)
        slots = layer.last_mask[(inp != PAD).reshape(-1)]  # type: ignore[index]
        share = slots.sum(0) / slots.sum()
        out.update(slot_share=share.tolist(), tokens_using_expert=slots.mean(0).tolist(),
                   max_expert_share=float(share.max()), dead_experts=int((share < 0.01).sum()),
                   load_balance_stddev=float(share.std()))
    return out


def summarise_pair(dense: list[dict[str, Any]], moe: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed means of the dense and MoE runs (`train_pair_member` results) and the MoE routing spread."""
    out: dict[str, Any] = {}
    for name, runs in (("dense", dense), ("moe", moe)):
        out[f"{name}_params"] = runs[0]["params"]
        out[f"{name}_val_loss"] = float(np.mean([r["val_loss"] for r in runs]))
        out[f"{name}_val_ppl"] = float(np.mean([r["val_ppl"] for r in runs]))
    out["moe_minus_dense_val_loss"] = out["moe_val_loss"] - out["dense_val_loss"]
    out["final_val_loss_finite"] = bool(np.isfinite([r["val_loss"] for r in dense + moe]).all())
    out["max_expert_share"] = float(np.mean([r["max_expert_share"] for r in moe]))
    out["dead_experts"] = int(max(r["dead_experts"] for r in moe))
    out["load_balance_stddev"] = float(np.mean([r["load_balance_stddev"] for r in moe]))
    out["load_balance_stddev_by_seed"] = [r["load_balance_stddev"] for r in moe]
    out["max_expert_share_by_seed"] = [r["max_expert_share"] for r in moe]
    out["max_seed_load_balance_stddev"] = float(max(out["load_balance_stddev_by_seed"]))
    out["slot_share_first_seed"] = moe[0]["slot_share"]
    return out
