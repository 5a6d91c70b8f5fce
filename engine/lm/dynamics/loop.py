"""An instrumented training loop for the dynamics labs: every number a dashboard panel needs.

Step order (the course's): forward -> token-mean loss -> backward -> [injection] -> global
norm -> clip -> schedule -> optimizer step. Two AdamW groups: weight matrices and the
embedding decay, biases do not. Each step yields one record with the train loss, the loss
on regular and irregular rows, the learning rate, the pre- and post-clip gradient norms and
the spike-detector flag; every `stats_every` steps it adds mean |activation| per layer, dead
units and heads, sigma_1 of each weight matrix and the update/weight ratio; every `eval_every` steps
the validation loss (and its regular/irregular split).

Injections (config `injection`, at step `injection_step`; a no-op by default):
  scale      gradients multiplied by 50 before clipping
  bad_batch  the batch is eight copies of one out-of-corpus sentence
  v_corrupt  Adam's second-moment estimate of one bias multiplied by 100 (the Mini-GPT's last
             FFN output bias; the MLP's head bias)
Failure switches: `init_scale` (bad init), `warmup` 0 (no warmup), `leak` (the Mini-GPT
without its causal mask; the MLP with the target in its context window), `grad_clip`
None/inf (no clipping). `subject` picks the network: "minigpt" (phase 18's) or "mlp".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.threads import blas_threads
from engine.lm.dynamics import charlm
from engine.lm.dynamics.inspect import Inspector
from engine.lm.dynamics.stats import SpikeDetector, clip_grad_norm, spectral_norm, update_to_weight_ratio
from engine.lm.dynamics.subjects import make_subject
from engine.scratch.optim import AdamW, set_lr, warmup_cosine

DEFAULTS: dict[str, Any] = {
    "subject": "minigpt", "steps": 600, "batch_size": 8, "warmup": 50, "lr_max": 3e-3, "lr_min": 3e-4,
    "weight_decay": 0.1, "grad_clip": 1.0, "betas": [0.9, 0.95], "eps": 1e-8, "eval_every": 25, "stats_every": 25,
    "log_every": 1, "context": 8, "d_emb": 16, "hidden": 128, "init_scale": 1.0, "leak": False,
    "injection": "none", "injection_step": -1, "data_seed": 7, "inspector": True,
}
INJECTIONS = ("none", "scale", "bad_batch", "v_corrupt")


@dataclass
class History:
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    loss_regular: list[float] = field(default_factory=list)
    loss_irregular: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    pre: list[float] = field(default_factory=list)
    post: list[float] = field(default_factory=list)
    spikes: list[int] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    stats: list[dict[str, Any]] = field(default_factory=list)
    best_val_state: dict[str, np.ndarray] | None = None


def resolve(cfg: dict[str, Any]) -> dict[str, Any]:
    out = {**DEFAULTS, **{k: v for k, v in cfg.items() if k in DEFAULTS or k == "seed"}}
    out.setdefault("seed", 42)
    if out["injection"] not in INJECTIONS:
        raise ValueError(f"injection must be one of {INJECTIONS}, got {out['injection']!r}")
    clip = out["grad_clip"]
    out["grad_clip"] = None if clip is None or (isinstance(clip, (int, float)) and not math.isfinite(clip)) else float(clip)
    return out


def train(cfg_in: dict[str, Any], rec: Any = None, log_path: str | Path | None = None,
          series: str | None = None) -> tuple[History, Any]:
    """Run one instrumented training; log to `rec` (tagged `injection=series` when given) and JSONL.

    Returns the history and the subject (its `.model` is the trained network). OpenBLAS is
    pinned to one thread: these matrices are tiny, and two threads on a loaded two-core box
    made a step 6-20x slower (the runner exports the same setting).
    """
    with blas_threads(1):
        return _train(resolve(cfg_in), rec, log_path, series)


def _train(cfg: dict[str, Any], rec: Any, log_path: str | Path | None, series: str | None) -> tuple[History, Any]:
    subj = make_subject(cfg)
    model = subj.model
    named = list(model.named_parameters())
    decay = [p for _, p in named if p.data.ndim >= 2]
    no_decay = [p for _, p in named if p.data.ndim < 2]
    b1, b2 = cfg["betas"]
    opts = [AdamW(decay, lr=cfg["lr_max"], betas=(b1, b2), eps=cfg["eps"], weight_decay=cfg["weight_decay"]),
            AdamW(no_decay, lr=cfg["lr_max"], betas=(b1, b2), eps=cfg["eps"], weight_decay=0.0)]
    sched = warmup_cosine(cfg["lr_max"], cfg["warmup"], cfg["steps"], cfg["lr_min"])
    ins = Inspector(model) if cfg["inspector"] else None
    if ins:
        subj.attach(ins)
    detector = SpikeDetector(window=50, k=5.0)
    hist = History()
    v_cache: dict[str, np.ndarray] = {}
    best_val = math.inf
    log_file = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115
    inj, k_inj = cfg["injection"], int(cfg["injection_step"])
    try:
        for step in range(cfg["steps"]):
            batch = subj.next_batch()
            if inj == "bad_batch" and step == k_inj:
                batch = subj.rare_batch()
            stats_step = step % cfg["stats_every"] == 0 or step == cfg["steps"] - 1
            if ins:
                ins.reset()
                ins.recording = stats_step
            loss, rows, regular = subj.loss(batch)
            heads = subj.dead_heads() if stats_step else {}
            for p in model.parameters():
                p.grad = None
            loss.backward()
            if ins:
                ins.after_backward()
            if inj == "scale" and step == k_inj:
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad = p.grad * np.float32(50.0)
            pre, post = clip_grad_norm(model.parameters(), cfg["grad_clip"])
            lr = sched(step)
            for o in opts:
                set_lr(o, lr)
            if inj == "v_corrupt" and step == k_inj:
                st = opts[1].state.get(id(subj.v_target()))
                if st is not None:
                    st["v"] = st["v"] * 100.0
            before = {n: w.data.copy() for n, w in subj.weight_matrices().items()} if stats_step else {}
            for o in opts:
                o.step()
            train_loss = float(rows.mean())
            reg, irr = charlm.partition_loss(rows, regular)
            spike = detector.update(train_loss)
            record: dict[str, Any] = {"step": step, "train_loss": train_loss, "loss_regular": reg,
                                      "loss_irregular": irr, "lr": lr, "grad_norm_pre": pre,
                                      "grad_norm_post": post, "spike": int(spike)}
            hist.steps.append(step)
            hist.train_loss.append(train_loss)
            hist.loss_regular.append(reg)
            hist.loss_irregular.append(irr)
            hist.lr.append(lr)
            hist.pre.append(pre)
            hist.post.append(post)
            hist.spikes.append(int(spike))
            if stats_step:
                stats = _layer_stats(subj, ins, before, v_cache)
                stats["dead_heads"] = heads
                stats["step"] = step
                hist.stats.append(stats)
                record.update(_flatten(stats))
            if step % cfg["eval_every"] == 0 or step == cfg["steps"] - 1:
                vl, vreg, virr = subj.val()
                hist.val_steps.append(step)
                hist.val_loss.append(vl)
                record.update(val_loss=vl, val_loss_regular=vreg, val_loss_irregular=virr)
                if vl < best_val:
                    best_val = vl
                    hist.best_val_state = model.state_dict()
            if rec is not None and (step % cfg["log_every"] == 0 or "val_loss" in record or spike):
                rec.log(step, **({"injection": series} if series else {}),
                        **{k: v for k, v in record.items() if k != "step"})
                if step % 50 == 0:
                    rec.progress(step, cfg["steps"])
            if log_file:
                log_file.write(json.dumps(_json_record(record, hist.stats[-1] if stats_step else None)) + "\n")
            if not math.isfinite(train_loss):
                break
    finally:
        if log_file:
            log_file.close()
        if ins:
            ins.remove_all()
    return hist, subj


def _layer_stats(subj: Any, ins: Inspector | None, before: dict[str, np.ndarray],
                 v_cache: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {"activations": {}, "dead_neurons": {}, "spectral": {}, "update_ratio": {}}
    if ins:
        snap = ins.snapshot()
        out["activations"] = {k: v["mean_abs"] for k, v in snap["activations"].items()}
        out["dead_neurons"] = dict(snap["dead_neurons"])
    for name, w in subj.weight_matrices().items():
        sigma, v = spectral_norm(w.data, iters=3 if name in v_cache else 10, v0=v_cache.get(name))
        v_cache[name] = v
        out["spectral"][name] = sigma
        if name in before:
            out["update_ratio"][name] = update_to_weight_ratio(before[name], w.data)
    return out


def _flatten(stats: dict[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for group, prefix in (("activations", "act_"), ("dead_neurons", "dead_"), ("dead_heads", "deadheads_"),
                          ("spectral", "sigma_"), ("update_ratio", "upd_")):
        for k, v in stats.get(group, {}).items():
            flat[prefix + k.replace(".weight", "")] = v
    return flat


def _json_record(record: dict[str, Any], stats: dict[str, Any] | None) -> dict[str, Any]:
    """The course's inspector.log.jsonl line: flat scalars plus nested per-layer dicts."""
    out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
           if not k.startswith(("act_", "dead_", "deadheads_", "sigma_", "upd_"))}
    out.setdefault("val_loss", None)
    if stats:
        out.update({k: stats[k] for k in ("activations", "dead_neurons", "dead_heads", "spectral", "update_ratio")})
    return out
