"""Phase 18 labs: batcher and masks, the first training run against the n-gram baseline, the
checkpoint round trip, and fp16 drift per layer. Maths in engine.lm.train; this is glue.

Fault `weight_decay_zero` (the phase's break): lab-01 trains with λ = 0 and, to make the effect
measurable, also trains the λ = 0.1 control with the same seeds and reports the ratio.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.core.threads import blas_threads
from engine.lm.train.checkpoint import load_checkpoint, save_checkpoint
from engine.lm.train.checks.checkpoint import (
    interrupted_save_is_harmless,
    manifest_matches_weights,
    resume_vs_continuous,
)
from engine.lm.train.checks.clip import clip_closed_form_error
from engine.lm.train.data import BatchIterator, held_out_split, load_corpus, make_batch
from engine.lm.train.loop import evaluate, masked_loss, train_step
from engine.lm.train.ngram import best_baseline
from engine.lm.train.optim import lr_at
from engine.lm.train.recipe import FULL, cached_minigpt, datasets, deep_merge, make_state, train_minigpt
from engine.scratch.autograd.tensor import no_grad

FAULT = "weight_decay_zero"


# ---------------------------------------------------------------------- lab 00: batcher
def batcher(cfg: dict, rec: Recorder) -> dict:
    heldout = cfg["heldout_verbs"]
    train_ex, val_ex = held_out_split(load_corpus(), heldout)
    overlap = {e.verb for e in train_ex} & {e.verb for e in val_ex}
    lengths = [6, 11, 9, 14]
    inp, tgt, lm, am = make_batch([list(range(3, 3 + n)) for n in lengths])
    shape_ok = inp.shape == tgt.shape == lm.shape == am.shape == (4, 13)
    n = np.asarray(lengths)  # targets: n - 1 real ones; inputs: n real ones, cut to L - 1 for the longest
    masks_ok = bool((lm.sum(1) == n - 1).all() and (am.sum(1) == np.minimum(n, inp.shape[1])).all())
    data = datasets({"model": {"vocab_size": 64}, "heldout_verbs": heldout})
    it = BatchIterator(data["train"], int(cfg["batch_size"]), int(cfg["data_seed"]))
    for _ in range(35):  # past the end of epoch 0 (30 batches), so the restore crosses an epoch
        it.next_batch()
    saved = it.state_dict()
    after = [it.next_batch()[0] for _ in range(10)]
    it2 = BatchIterator(data["train"], int(cfg["batch_size"]), seed=999)
    it2.load_state_dict(saved)
    resumed = [it2.next_batch()[0] for _ in range(10)]
    identical = all(np.array_equal(a, b) for a, b in zip(after, resumed, strict=True))
    # three epochs of 23 examples in batches of 5: each epoch visits everyone once, in a new order
    small = BatchIterator([[1, i, 2] for i in range(23)], 5, seed=3)
    epochs = [np.concatenate([small.next_indices() for _ in range(5)]) for _ in range(3)]
    epochs_ok = all(sorted(e.tolist()) == list(range(23)) for e in epochs) and len({tuple(e) for e in epochs}) == 3
    p_inp, p_tgt, _, _ = make_batch([[5, 6, 7], [8, 9]], pad_id=63)
    pad_ok = p_inp.tolist() == [[5, 6], [8, 9]] and p_tgt.tolist() == [[6, 7], [9, 63]]
    b_inp, _, b_lm, _ = make_batch(data["train"][:4])
    for i in range(4):
        rec.note(f"{data['tok'].decode(b_inp[i])!r} loss mask {b_lm[i].astype(int).tolist()}")
    sizes = [len(s) for s in data["train"] + data["val"]]
    return {"train_examples": len(train_ex), "val_examples": len(val_ex), "train_val_verb_overlap": len(overlap),
            "batch_shape_ok": shape_ok, "masks_ok": masks_ok, "iterator_resume_identical": identical,
            "epochs_are_fresh_permutations": epochs_ok, "custom_pad_id_ok": pad_ok,
            "min_tokens": min(sizes), "max_tokens": max(sizes), "partial_last_batch": 240 % it.batch_size}


# ---------------------------------------------------------------------- lab 01: first run
def _emb_norm(state: Any) -> float:
    return float(np.linalg.norm(state.model.E.data.astype(np.float64)))


def _config(cfg: dict) -> dict[str, Any]:
    config = deep_merge({k: cfg[k] for k in ("model", "optimizer", "scheduler", "training", "heldout_verbs") if k in cfg}, {})
    config = deep_merge(config, {"training": {"rng_seed": int(cfg["seed"])}})  # --seed drives the init and dropout draws
    if cfg.get("fault") == FAULT:
        config = deep_merge(config, {"optimizer": {"weight_decay": 0.0}})
    return config


def _train_logged(config: dict[str, Any], base: dict[str, Any], rec: Recorder) -> tuple[dict[str, Any], float]:
    """train_minigpt with its metrics (and the n-gram line next to each validation point) in the recorder;
    returns the run and the embedding norm after step 1."""
    log_every = int(config.get("training", {}).get("log_every", 10))
    norms: list[float] = []

    def log(step: int, **m: Any) -> None:
        if "val_loss" in m:
            m["ngram_baseline_loss"] = base["nll"]
        rec.log(step, **m)

    def on_step(state: Any, r: dict) -> None:
        if not norms:
            norms.append(_emb_norm(state))  # after step 1: close to the initial norm
        if state.step % log_every == 0:
            rec.log(state.step, embedding_norm=_emb_norm(state))
            rec.progress(state.step, int(state.opt_cfg["total_steps"]))

    run = train_minigpt(config, log=log, on_step=on_step)
    total = int(run["config"]["scheduler"]["total_steps"])
    rec.progress(total, total)
    return run, norms[0]


def _summary(run: dict[str, Any], base: dict[str, Any], norm0: float) -> dict[str, Any]:
    state, hist = run["state"], run["history"]
    v_size = state.model.cfg.vocab_size
    best_i = int(np.argmin(hist["val_loss"]))
    val_ppl, base_ppl = math.exp(run["val_loss"]), base["ppl"]
    return {
        "train_loss": run["train_loss"], "val_loss": run["val_loss"],
        "train_ppl": math.exp(run["train_loss"]), "val_ppl": val_ppl,
        "best_val_step": hist["val_step"][best_i], "best_val_ppl": math.exp(hist["val_loss"][best_i]),
        "ngram_baseline_val_ppl": base_ppl, "ngram_order": int(base["n"]), "ngram_alpha": base["alpha"],
        "beats_baseline": val_ppl < base_ppl, "ppl_improvement_pct": 100 * (1 - val_ppl / base_ppl),
        "initial_loss": hist["loss"][0], "log_v": math.log(v_size),
        "final_train_loss_over_log_v": run["train_loss"] / math.log(v_size),
        "lr_at_step_25": lr_at(25, 3e-4, 3e-5, 100, 2000), "lr_at_step_1500": lr_at(1500, 3e-4, 3e-5, 100, 2000),
        "embedding_norm_init": norm0, "embedding_norm_final": _emb_norm(state),
        "embedding_norm_growth": _emb_norm(state) / norm0,
        "weight_decay": float(run["config"]["optimizer"]["weight_decay"]),
        "clip_closed_form_max_err": clip_closed_form_error(),
        "decay_tensors": len(state.opt.groups[0].params),
        "no_decay_tensors": sum(len(g.params) for g in state.opt.groups[1:]),
    }


def first_training_run(cfg: dict, rec: Recorder) -> dict:
    """Train with warmup-cosine AdamW; compare validation perplexity with the best n-gram."""
    config = _config(cfg)
    data = datasets(deep_merge({"model": {"vocab_size": 64}}, config))
    base = best_baseline(data["train"], data["val"], data["tok"].vocab_size)
    run, norm0 = _train_logged(config, base, rec)
    ck = Path(rec.out_dir) / "checkpoint"
    sha = save_checkpoint(run["state"], ck, {"train_loss": run["train_loss"], "val_loss": run["val_loss"]})
    for name in ("weights.safetensors", "optim.safetensors", "extra.json", "manifest.json"):
        rec.artifact(ck / name, "checkpoint")
    out = _summary(run, base, norm0)
    out.update(weights_sha256=sha, manifest_hash_matches_weights=manifest_matches_weights(ck))
    out["train_val_gap"] = out["val_loss"] - out["train_loss"]
    if cfg.get("fault") == FAULT:  # the control, same seeds, λ = 0.1
        control = train_minigpt(deep_merge(config, {"optimizer": {"weight_decay": 0.1}}))
        out["control_embedding_norm"] = _emb_norm(control["state"])
        out["control_train_val_gap"] = control["val_loss"] - control["train_loss"]
    else:
        out["control_embedding_norm"] = out["embedding_norm_final"]
        out["control_train_val_gap"] = out["train_val_gap"]
    out["embedding_norm_vs_control"] = out["embedding_norm_final"] / out["control_embedding_norm"]
    out["gap_vs_control"] = out["train_val_gap"] - out["control_train_val_gap"]
    return out


# ---------------------------------------------------------------------- lab 02: checkpoints
def _step_checks(first: Any, config: dict[str, Any], train: list[list[int]]) -> tuple[float, float]:
    """The step's loss against evaluate()'s independent NumPy NLL; its learning rate against the schedule."""
    inp, tgt, lm, am = make_batch(train[:8])
    with no_grad():
        step_loss = masked_loss(first.model, inp, tgt, lm, am).item()
    eval_loss, _ = evaluate(first.model, train[:8])
    sched = make_state(config, train)
    oc = sched.opt_cfg
    lr_err = max(abs(train_step(sched)["lr"] - lr_at(s, oc["lr_max"], oc["lr_min"], int(oc["warmup_steps"]),
                                                       int(oc["total_steps"]))) for s in range(4))
    return abs(step_loss - eval_loss), lr_err


def checkpoint_roundtrip(cfg: dict, rec: Recorder) -> dict:
    """Five state machines byte-equal after reload; 10 + save/load + 10 == 20; tie; atomic write."""
    config = deep_merge(FULL, {"scheduler": {"warmup_steps": 5, "total_steps": 20}})
    data = datasets(config)
    n = int(cfg["steps"])
    d = Path(tempfile.mkdtemp(prefix="ckpt-", dir=rec.out_dir))
    with blas_threads(1):
        first, equal, losses_cont, losses = resume_vs_continuous(config, data["train"], n, d / "ckpt")
        loss_diff, lr_err = _step_checks(first, config, data["train"])
    unique = sum(p.numel() for _, p in first.opt.named)
    size = (d / "ckpt" / "weights.safetensors").stat().st_size
    untied_extra = first.model.cfg.vocab_size * first.model.cfg.d_model * 4
    tied = abs(size - unique * 4) <= 4096 and not any(n.startswith("lm_head") for n, _ in first.opt.named)
    train_step(first)  # a newer state, whose save is interrupted
    atomic = interrupted_save_is_harmless(first, d / "ckpt", n)
    for k, v in equal.items():
        rec.log(0, stage="roundtrip", machine=k, byte_equal=int(v))
    for i, (a, b) in enumerate(zip(losses_cont, losses, strict=True)):
        rec.log(i + 1, continuous_loss=a, resumed_loss=b)
    return {"byte_equivalent_state_machines": [k for k, v in equal.items() if v], "all_byte_equal": all(equal.values()),
            "continuation_test_passed": losses == losses_cont, "weight_tying_preserved": tied,
            "masked_loss_vs_evaluate_abs_diff": loss_diff, "step_lr_vs_schedule_max_diff": lr_err,
            "weights_file_size_bytes": size, "unique_param_bytes": unique * 4,
            "size_if_untied_bytes": unique * 4 + untied_extra, "atomic_write_resilient": atomic,
            "manifest_schema_version": load_checkpoint(d / "ckpt")["manifest"]["schema_version"]}


# ---------------------------------------------------------------------- lab 03: fp16 drift
def mp_drift(cfg: dict, rec: Recorder) -> dict:
    """Round the trained weights through fp16 and measure the relative error after each layer."""
    model, tok, ck = cached_minigpt(quick=bool(cfg["quick"]))
    _, val_ex = held_out_split(load_corpus())
    tenses = ["infinitive", "present", "past", "past_participle", "future"]
    prompts = [next(e for e in val_ex if e.tense == t and e.person == "3sg") for t in tenses][:int(cfg["num_prompts"])]
    half = type(model)(model.cfg)
    for (_, p), (_, q) in zip(model.named_parameters(), half.named_parameters(), strict=True):
        q.data[...] = p.data.astype(np.float16).astype(np.float32)
    twice = np.array_equal(half.E.data.astype(np.float16).astype(np.float32), half.E.data)
    errs: dict[str, list[float]] = {}
    flips, positions = 0, 0
    with no_grad(), blas_threads(1):
        for ex in prompts:
            ids = np.asarray(tok.encode(ex.text))
            _, a = model.forward_with_layer_outputs(ids)
            _, b = half.forward_with_layer_outputs(ids)
            for name in a:
                x, y = a[name].data.astype(np.float64), b[name].data.astype(np.float64)
                errs.setdefault(name, []).append(float(np.linalg.norm(x - y) / np.linalg.norm(x)))
            flips += int((a["logits"].data.argmax(-1) != b["logits"].data.argmax(-1)).sum())
            positions += len(ids)
    mean = {k: float(np.mean(v)) for k, v in errs.items()}
    for i, (k, v) in enumerate(mean.items()):
        rec.log(i, stage="drift", layer=k, relative_error=v)
    seq = list(mean.values())
    return {"num_prompts": len(prompts), "per_layer_relative_error_mean": mean,
            "argmax_flip_count_total": flips, "argmax_total_positions": positions,
            "argmax_flip_rate": flips / positions, "cast_idempotent": twice,
            "monotonic_growth_with_depth": all(b >= a for a, b in zip(seq, seq[1:], strict=False)),
            "max_error_below_5pct": max(seq) < 0.05,
            "embed_error_near_fp16_eps": 2.0**-14 <= mean["embed_out"] <= 2.0**-9,
            "embed_error": mean["embed_out"], "checkpoint": ck.name}
