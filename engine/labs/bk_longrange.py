"""Experiment bk-longrange: ResNet-BK vs a Transformer of matched size on long-range synthetic tasks.

For each task (associative recall, selective copy; engine.research.bk.longrange), each length N
and each seed, both models train on the same batches (same optimiser, learning rate and step
count) and are scored on the same held-out set: accuracy at the answer positions, against the
chance rate 1/|answers| and a majority-answer baseline. Training throughput (tokens/s, forward +
backward + step) is measured at every N, so accuracy and cost are read side by side.

Seeds: the run's `seed` plus 0..n_seeds-1. Per (task, N, model) the results carry the mean, std
and a BCa bootstrap interval of accuracy over the seeds (engine.scratch.stats.bootstrap). The ResNet-BK
and Transformer parameter counts are reported with their ratio; the BK model's FFN is a top-1 MoE
with `num_experts` experts, which at the defaults matches the Transformer's attention + MLP size.

After the last ResNet-BK run at the shortest N the lab logs what its first layer learned on one
held-out sequence: the potential v_i, |G_ii| (causal 1/d_i and the full resolvent) and the
spectrum of the Hamiltonian H = H0 + diag(v) (engine.research.bk.model.interpret).

Tokens/s are wall-clock timings (reported, never checked hard); everything else is
deterministic for a given seed and config.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.core.run import Recorder
from engine.labs.bk_lm import build_model
from engine.research.bk import longrange as LR
from engine.research.bk.model import ResNetBK, count_params, interpret, non_finite_grads
from engine.scratch.stats.bootstrap import summarize


def _spec(cfg: dict[str, Any], task: str, n: int) -> LR.TaskSpec:
    return LR.TaskSpec(task, n, n_pairs=int(cfg["n_pairs"]), n_queries=int(cfg["n_queries"]),
                       n_keys=int(cfg["n_keys"]), n_values=int(cfg["n_values"]))


@torch.no_grad()
def _accuracy(model: nn.Module, xv: Tensor, yv: Tensor, chunk: int) -> float:
    model.eval()
    preds = [model(xv[i : i + chunk]).argmax(-1) for i in range(0, len(xv), chunk)]
    model.train()
    return LR.answer_accuracy(torch.cat(preds).cpu().numpy(), yv.cpu().numpy())


def _train_one(name: str, cfg: dict[str, Any], spec: LR.TaskSpec, seed: int, rec: Recorder,
               tag: dict[str, Any], val: tuple[Tensor, Tensor]) -> tuple[nn.Module, dict[str, Any]]:
    device, batch, steps = str(cfg["device"]), int(cfg["batch"]), int(cfg["steps"])
    every, chunk = int(cfg["eval_every"]), int(cfg["eval_chunk"])
    torch.manual_seed(seed)
    model = build_model(name, cfg, spec.vocab_size, spec.n_seq).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=0.01)
    clip, bad, seconds = float(cfg["grad_clip"]), 0, 0.0
    xv, yv = val
    for step in range(steps):
        x, y = (torch.from_numpy(a).to(device) for a in LR.batch_at(spec, seed, step, batch))
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x).reshape(-1, spec.vocab_size), y.reshape(-1), ignore_index=LR.IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        finite = not non_finite_grads(model)
        if finite:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        bad += not finite
        if tag["curve"] and ((step + 1) % every == 0 or step == steps - 1):
            rec.log(step + 1, task=tag["task"], n=tag["n"], model=name, series=f"{name} {tag['task']} N={tag['n']}",
                    stage="train", train_loss=loss.item(), val_acc=_accuracy(model, xv, yv, chunk))
    acc = _accuracy(model, xv, yv, chunk)
    return model, {"acc": acc, "params": count_params(model), "skipped": bad,
                   "tokens_per_s": steps * batch * spec.n_seq / max(seconds, 1e-9)}


def _log_interpretation(model: ResNetBK, x: Tensor, rec: Recorder, cfg: dict[str, Any]) -> dict[str, Any]:
    info = interpret(model, x[:1], layer=0)
    for i in range(len(info["v"])):
        rec.log(i, stage="potential", position=i, v=float(info["v"][i]), abs_g_causal=float(info["abs_g_causal"][i]),
                abs_g_full=float(info["abs_g_full"][i]), token=int(x[0, i]))
    for k, lam in enumerate(info["spectrum"]):
        rec.log(k, stage="spectrum", index=k, eigenvalue=float(lam))
    return {"interp_v_std": float(np.std(info["v"])), "interp_spectrum_min": float(info["spectrum"][0]),
            "interp_spectrum_max": float(info["spectrum"][-1])}


def run(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    tasks, lengths = [str(t) for t in cfg["tasks"]], [int(n) for n in cfg["lengths"]]
    models, n_seeds = [str(m) for m in cfg["models"]], int(cfg["n_seeds"])
    seeds = [int(cfg["seed"]) + i for i in range(n_seeds)]
    device = str(cfg["device"])
    out: dict[str, Any] = {"device": device, "seeds": seeds, "tasks": tasks, "lengths": lengths, "models": models}
    total, done = len(tasks) * len(lengths) * len(seeds) * len(models), 0
    per: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    interp_done = False
    for task in tasks:
        for n in lengths:
            spec = _spec(cfg, task, n)
            out[f"{task}_chance"] = spec.chance
            for seed in seeds:
                xv, yv = (torch.from_numpy(a).to(device) for a in LR.validation(spec, seed, int(cfg["val_size"])))
                train_answers = np.concatenate([LR.batch_at(spec, seed, s, int(cfg["batch"]))[1] for s in range(8)])
                base = LR.majority_baseline(train_answers, yv.cpu().numpy())
                per.setdefault((task, n, "majority"), []).append({"acc": base})
                for name in models:
                    tag = {"task": task, "n": n, "curve": seed == seeds[0]}
                    model, res = _train_one(name, cfg, spec, seed, rec, tag, (xv, yv))
                    per.setdefault((task, n, name), []).append(res)
                    done += 1
                    rec.progress(done, total)
                    if isinstance(model, ResNetBK) and not interp_done and n == min(lengths):
                        out.update(_log_interpretation(model, xv, rec, cfg))
                        out["interp_task"], interp_done = f"{task}@{n}", True
    for (task, n, name), runs in per.items():
        key = f"{task}_{n}_{name}"
        accs = [r["acc"] for r in runs]
        s = summarize(accs, n_resamples=int(cfg["n_resamples"]), seed=0)
        out[f"{key}_acc"], out[f"{key}_acc_std"] = s["mean"], s["std"]
        out[f"{key}_acc_ci"] = [s["ci_low"], s["ci_high"]]
        if name == "majority":
            continue
        tps = float(np.mean([r["tokens_per_s"] for r in runs]))
        out[f"{key}_tokens_per_s"] = tps
        out[f"{name}_params_{n}"] = runs[0]["params"]
        out[f"{name}_skipped_steps"] = out.get(f"{name}_skipped_steps", 0) + sum(r["skipped"] for r in runs)
        rec.log(n, stage="summary", task=task, model=name, series=f"{name} {task}", n=n, acc_mean=s["mean"],
                acc_lo=s["ci_low"], acc_hi=s["ci_high"], tokens_per_s=tps)
    _headline(out, tasks, lengths, models)
    return out


def _headline(out: dict[str, Any], tasks: list[str], lengths: list[int], models: list[str]) -> None:
    """The numbers the checks read: accuracy over chance at the shortest N, size and speed ratios."""
    short = min(lengths)
    for name in models:
        over = [out[f"{t}_{short}_{name}_acc"] / out[f"{t}_chance"] for t in tasks]
        out[f"{name}_short_acc_over_chance"] = float(max(over))
        out[f"{name}_short_best_task"] = tasks[int(np.argmax(over))]
    out["majority_acc_over_chance"] = float(max(out[f"{t}_{n}_majority_acc"] / out[f"{t}_chance"]
                                                for t in tasks for n in lengths))
    if {"resnet_bk", "transformer"} <= set(models):
        out["params_ratio"] = out[f"resnet_bk_params_{short}"] / out[f"transformer_params_{short}"]
        for n in lengths:
            ratios = [out[f"{t}_{n}_resnet_bk_tokens_per_s"] / out[f"{t}_{n}_transformer_tokens_per_s"]
                      for t in tasks]
            out[f"bk_over_transformer_tokens_per_s_{n}"] = float(math.exp(np.mean(np.log(ratios))))
