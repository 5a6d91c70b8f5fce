"""Phase 28 labs: LoRALinear by hand, parameter/memory counts, the LoRA grammar tutor with a rank sweep, QLoRA.

The base is the cached phase-18 spine model (pair lines only); the adapter is the phase-28 tutor
(engine.torchstack.finetune.tutor, a model-cache stage that phases 29-32 load by name): given "fix: he goed =>"
it answers " he went | overregularization past | es: él fue". Accuracy is exact match of the
greedy reply's three fields on tutor rows held out by hash (the 16 training verbs) and, reported
apart, on the 4 verbs the base never saw. The control is the pair-line perplexity of the base
task (catastrophic forgetting shows there). Fault `rank_zero` (the break): the adapter has r = 0.
"""

from __future__ import annotations

import copy
import json
import resource
from typing import Any

import torch
from torch import nn

from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.models import registry
from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT, n_params
from engine.lm.text import bilingual as B
from engine.lm.train import spine, torch_lm
from engine.torchstack.finetune import checks, counts
from engine.torchstack.finetune import tutor as T
from engine.torchstack.finetune.lora import (
    LoRALinear,
    adapter_hash,
    load_adapter,
    lora_modules,
    lora_parameters,
    lora_state_dict,
    save_adapter,
    wrap_minigpt_with_lora,
)
from engine.torchstack.finetune.qlora import fp16_and_nf4_pair, tensor_bytes, train_measuring_memory
from engine.torchstack.finetune.sft import batch_tensors, train_adapter

FAULT = "rank_zero"


def _base(cfg: dict, rec: Recorder) -> tuple[GPT, Any]:
    """The cached phase-18 model (named in the manifest) and its tokenizer; reseeds torch for the adapter."""
    torch.manual_seed(int(cfg["seed"]))
    with torch_threads():
        base, tok, ck = spine.base_model(bool(cfg["quick"]))
    registry.record(rec, ck)
    return base, tok


def _control_ppl(model: nn.Module, tok: Any) -> float:
    """Perplexity of the base task: pair lines of the training verbs, both orders (what must not be forgotten)."""
    with torch_threads():
        return torch_lm.perplexity(model, torch_lm.encode_lines(tok, B.lines("train", ("pair", "pair_en_es"))))


def _tutor_rows(tok: Any, n: int, context_len: int) -> list:
    train, _, _ = T.tutor_split()
    return T.tutor_rows(tok, train[:n], context_len)


# ---------------------------------------------------------------------- lab 00: LoRALinear by hand
def _adapter_file_checks(wrapped: nn.Module, base: GPT, x: torch.Tensor, rec: Recorder) -> dict[str, Any]:
    """Save the adapter, load it onto a fresh base (the file says how to wrap; the hash is checked), compare."""
    path = rec.out_dir / "adapter.safetensors"
    with torch.no_grad(), torch_threads():
        adapted = wrapped(x)
        digest = save_adapter(wrapped, path, {"base_key": "phase-18"})
        rec.artifact(path, "adapter")
        fresh = load_adapter(spine.fresh_copy(base), path)
        return {"adapted": adapted, "roundtrip_max_abs_diff": float((fresh(x) - adapted).abs().max()),
                "adapter_file_hash_ok": digest == adapter_hash(lora_state_dict(wrapped)),
                "merge_max_abs_diff_fp32": checks.merge_max_abs_diff(wrapped, x, torch.float32),
                "merge_max_abs_diff": checks.merge_max_abs_diff(wrapped, x)}


def _tutor_merge_diff(cfg: dict, rec: Recorder, x: torch.Tensor) -> float:
    """The registered phase-28 tutor adapter: merged (a plain GPT) vs unmerged logits, float64."""
    tutor, _, tck = T.tutor(bool(cfg["quick"]))
    registry.record(rec, tck)
    with torch.no_grad(), torch_threads():
        t64 = copy.deepcopy(tutor).double()
        return float((T.merged_copy(t64).double().eval()(x) - t64(x)).abs().max())


def lora_by_hand(cfg: dict, rec: Recorder) -> dict:
    r, alpha = int(cfg["r"]), float(cfg["alpha"])
    base, tok = _base(cfg, rec)
    rows = _tutor_rows(tok, 64, base.cfg.context_len)
    x, _ = batch_tensors(rows[:32], B.PAD)
    with torch.no_grad(), torch_threads():
        ref = base(x)
        wrapped = wrap_minigpt_with_lora(spine.fresh_copy(base), r=r, alpha=alpha, dropout=float(cfg["dropout"]))
        wrapped.eval()
        init_diff = float((wrapped(x) - ref).abs().max())
    with torch_threads():  # a few real LoRA steps, so B is no longer zero
        train_adapter(wrapped, rows, pad=B.PAD, steps=int(cfg["adapter_steps"]), lr=3e-3, batch=16,
                      seed=int(cfg["seed"]), params=lora_parameters(wrapped))
    out = _adapter_file_checks(wrapped, base, x, rec)
    adapted = out.pop("adapted")
    out["tutor_merge_max_abs_diff_fp64"] = _tutor_merge_diff(cfg, rec, x)  # before the probes below: the same RNG
    lin = LoRALinear(nn.Linear(64, 64), r=8)
    out.update({"init_output_diff": init_diff, "logits_max_abs": float(adapted.abs().max()),
                "params_linear64_r8": sum(p.numel() for p in (lin.A, lin.B)),
                "base_requires_grad": not checks.base_is_frozen(wrapped),
                "forward_vs_formula_max_abs_diff": checks.formula_error(),
                "standalone_base_frozen": not any(p.requires_grad for p in lin.base.parameters()),
                "adapter_effect_max_abs": float((adapted - ref).abs().max()),
                "n_wrapped_modules": len(lora_modules(wrapped)),
                "adapter_params": sum(t.numel() for t in lora_state_dict(wrapped).values()),
                "rank_zero_rejected": checks.rank_zero_rejected()})
    rec.note(f"init diff {init_diff}, merge diff {out['merge_max_abs_diff']:.2e} (fp32 "
             f"{out['merge_max_abs_diff_fp32']:.2e}), phase-28 tutor merged vs unmerged "
             f"{out['tutor_merge_max_abs_diff_fp64']:.2e} in float64; save/load diff "
             f"{out['roundtrip_max_abs_diff']:.2e}; {out['n_wrapped_modules']} modules wrapped, "
             f"{out['adapter_params']} adapter parameters")
    return out


# ---------------------------------------------------------------------- lab 01: counts
def lora_counts(cfg: dict, rec: Recorder) -> dict:
    mcfg = MiniGPTConfig(**{k: int(cfg[k]) for k in ("n_layers", "d_model", "d_ff", "vocab_size")})
    batch, seq = int(cfg["batch"]), int(cfg["seq"])
    rows = [counts.regime("full_ft", mcfg, 0, batch=batch, seq=seq)]
    rows += [counts.regime(f"lora_r{r}", mcfg, int(r), 2.0, batch, seq) for r in cfg["ranks"]]
    rows.append(counts.regime("qlora_r8", mcfg, 8, counts.nf4_bytes_per_param(64, 2), batch, seq))
    full_total = rows[0]["total_bytes"]
    for i, row in enumerate(rows):
        rec.log(i, **row, ratio_vs_full=row["total_bytes"] / full_total)
    n = counts.base_params(mcfg)
    full = rows[0]
    out = {"nf4_bytes_per_param_g64": counts.nf4_bytes_per_param(64, 2),
           "base_params": n, "lora_params_r8": counts.lora_params(mcfg, 8),
           "lora_params_per_rank": counts.lora_params(mcfg, 1),
           "full_ft_bytes_per_param": (full["weights_bytes"] + full["grads_bytes"] + full["adam_bytes"]) / n,
           "qlora_base_bytes_per_param_fp16_scales": counts.nf4_bytes_per_param(64, 2),
           "qlora_base_bytes_per_param_fp32_scales": counts.nf4_bytes_per_param(64, 4),
           "lora_r8_fraction_of_base": counts.lora_params(mcfg, 8) / n}
    out.update({f"{row['regime']}_total_bytes": row["total_bytes"] for row in rows})
    model = GPT(mcfg)
    out["count_matches_model"] = n_params(model) == n
    linears = [tuple(mod.weight.shape) for mod in model.modules() if isinstance(mod, nn.Linear)]
    out["shapes_match_model"] = sorted(counts.linear_shapes(mcfg)) == sorted(linears)
    return out


# ---------------------------------------------------------------------- lab 02: the tutor + rank sweep
def _score(model: nn.Module, tok: Any, examples: list[B.Example]) -> dict[str, float]:
    with torch_threads():
        return T.score_tutor(model, tok, examples)


def _rank_model(r: int, r_main: int, broken: bool, base: GPT, tok: Any, seen: set[int], quick: bool,
                rec: Recorder, out: dict[str, Any]) -> tuple[nn.Module, list[float]]:
    """The stage's registered adapter at its own rank (its loss history logged), else a new one trained here."""
    stage_cfg = T._config(quick)  # the registered recipe; a rank that is not the stage's trains here
    if r == int(stage_cfg["r"]) and not broken:
        model, _, ck = T.tutor(quick)
        record = registry.record(rec, ck)  # the manifest keeps the cache path; results.json must not
        out["adapter"] = {k: v for k, v in record.items() if k != "path"}
        out["adapter_hashes"] = T.adapter_record(ck)
        hist = [float(v) for v in json.loads((ck.path / "history.json").read_text())["loss"]]
        for step, v in enumerate(hist):
            rec.log(step, stage="train", train_loss=v)
        return model, hist
    model, losses, _ = T.build_adapter({**stage_cfg, "r": r}, base, tok, seen,
                                       on_step=(lambda s, v: rec.log(s, stage="train", train_loss=v))
                                       if r == r_main else None)
    return model, losses


def _main_rank_keys(model: nn.Module, base: GPT, r: int, acc: dict, acc0: dict, un: dict,
                    seen: set[int], losses: list[float]) -> dict[str, Any]:
    n_adapter = sum(t.numel() for t in lora_state_dict(model).values())
    return {"rank": r, "form_acc": acc["form"], "reason_acc": acc["reason"], "spanish_acc": acc["spanish"],
            "all_acc": acc["all"], "form_acc_gain_pp": 100.0 * (acc["form"] - acc0["form"]),
            "all_acc_gain_pp": 100.0 * (acc["all"] - acc0["all"]),
            "unseen_verbs_form_acc": un["form"], "unseen_verbs_all_acc": un["all"],
            "trainable_lora_params": sum(p.numel() for p in lora_parameters(model)),
            **checks.base_drift(model, base, sorted(seen)),
            "adapter_bytes_fp16": 2 * n_adapter, "first_loss": losses[0] if losses else 0.0,
            "last_loss": losses[-1] if losses else 0.0,
            "adapter_bytes_match_formula": 2 * n_adapter == 2 * counts.lora_params(base.cfg, r),
            "adapter_fraction_of_base": 2 * n_adapter / (4 * n_params(base))}


def lora_finetune(cfg: dict, rec: Recorder) -> dict:
    quick = bool(cfg["quick"])
    base, tok = _base(cfg, rec)
    before_hash = adapter_hash(base.state_dict())
    _, test, unseen = T.tutor_split(int(cfg["test_percent"]))
    test, unseen = test[: int(cfg["n_test"])], unseen[: int(cfg["n_unseen"])]
    acc0, ppl0 = _score(base, tok, test), _control_ppl(base, tok)
    broken = cfg["fault"] == FAULT
    r_main = 0 if broken else int(cfg["r"])
    ranks = [r_main] if broken else sorted({int(r) for r in cfg["ranks"]} | {r_main})
    seen = T.seen_token_ids(tok, "phase-18", quick)
    out: dict[str, Any] = {"base_form_acc": acc0["form"], "base_all_acc": acc0["all"], "base_control_ppl": ppl0,
                           "n_test": len(test), "n_unseen": len(unseen)}
    for i, r in enumerate(ranks):
        model, losses = _rank_model(r, r_main, broken, base, tok, seen, quick, rec, out)
        acc, ppl = _score(model, tok, test), _control_ppl(model, tok)
        drift = 100.0 * (ppl - ppl0) / ppl0
        rec.log(i, stage="rank_sweep", rank=r, form_acc=acc["form"], all_acc=acc["all"], control_ppl_drift_pct=drift)
        rec.progress(i + 1, len(ranks))
        if r == r_main:
            out.update(_main_rank_keys(model, base, r, acc, acc0, _score(model, tok, unseen), seen, losses),
                       control_ppl=ppl, control_ppl_drift_pct=drift,
                       base_hash_unchanged=adapter_hash(base.state_dict()) == before_hash)
            for e in test[:5]:
                rec.note(f"{B.tutor_prompt(e.text)!r} -> {T.generate_reply(model, tok, B.tutor_prompt(e.text))!r}")
    rec.note(f"rank {r_main}: all-three-fields accuracy {acc0['all']:.2f} -> {out['all_acc']:.2f} (form "
             f"{acc0['form']:.2f} -> {out['form_acc']:.2f}); unseen verbs {out['unseen_verbs_all_acc']:.2f}; control "
             f"PPL drift {out['control_ppl_drift_pct']:+.2f} %")
    return out


# ---------------------------------------------------------------------- lab 03: QLoRA preview
def qlora_preview(cfg: dict, rec: Recorder) -> dict:
    base, tok = _base(cfg, rec)
    rows = T.training_rows({**T._config(bool(cfg["quick"])), "replay_ratio": float(cfg["replay_ratio"])}, tok,
                           base.cfg.context_len)
    # model A: FP16-stored base Linears + adapter; model B: NF4 base + the same adapter.
    # The (frozen, tied) embedding is FP32 in A and FP16-rounded in B; the memory difference is the Linears'.
    a, b = fp16_and_nf4_pair(base, int(cfg["r"]), float(cfg["alpha"]), str(cfg["quant_scheme"]), int(cfg["seed"]))
    x, _ = batch_tensors(rows[:64], B.PAD)
    with torch.no_grad(), torch_threads():
        la, lb = a(x), b(x)
    rel = float((la - lb).abs().mean() / la.abs().mean())
    mem: dict[str, int] = {}
    losses_b: list[float] = []
    for tag, model in (("lora", a), ("qlora", b)):
        mem[f"{tag}_bytes_after_construction"] = tensor_bytes(model)
        with torch_threads():
            losses, mem[f"{tag}_bytes_mid_training"] = train_measuring_memory(
                model, rows, pad=B.PAD, steps=int(cfg["steps"]) if tag == "qlora" else 2, lr=float(cfg["lr"]),
                batch=int(cfg["batch"]), seed=int(cfg["seed"]),
                on_step=(lambda s, v: rec.log(s, stage="train", train_loss=v)) if tag == "qlora" else None)
        if tag == "qlora":
            losses_b = losses
    k = max(1, min(10, len(losses_b) // 4))
    out = {"logits_mean_abs_rel_diff": rel, "all_finite": all(torch.isfinite(torch.tensor(losses_b)).tolist()),
           "loss_first": sum(losses_b[:k]) / k, "loss_last": sum(losses_b[-k:]) / k, **mem,
           "qlora_over_lora_memory_ratio": mem["qlora_bytes_mid_training"] / mem["lora_bytes_mid_training"],
           "qlora_steps": len(losses_b)}
    out["loss_decreased"] = out["loss_last"] < out["loss_first"]
    rec.log(0, stage="memory", max_rss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    rec.note(f"NF4 vs FP16 base with the same adapter: logits differ by {rel:.2%} on average; resident tensor "
             f"bytes mid-training {mem['qlora_bytes_mid_training']} (QLoRA) vs {mem['lora_bytes_mid_training']} (LoRA)")
    return out
