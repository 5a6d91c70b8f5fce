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
from engine.torchstack.finetune import counts
from engine.torchstack.finetune import tutor as T
from engine.torchstack.finetune.lora import (
    LoRALinear,
    adapter_hash,
    load_adapter,
    lora_modules,
    lora_parameters,
    lora_state_dict,
    merge_all_,
    save_adapter,
    wrap_minigpt_with_lora,
)
from engine.torchstack.finetune.qlora import tensor_bytes, wrap_minigpt_qlora
from engine.torchstack.finetune.sft import batch_tensors, sft_loss, train_adapter

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
    path = rec.out_dir / "adapter.safetensors"
    with torch.no_grad(), torch_threads():
        adapted = wrapped(x)
        digest = save_adapter(wrapped, path, {"base_key": "phase-18"})
        rec.artifact(path, "adapter")
        fresh = load_adapter(spine.fresh_copy(base), path)  # wraps as the file says, checks the hash
        roundtrip = float((fresh(x) - adapted).abs().max())
        merged = copy.deepcopy(wrapped)
        merge_all_(merged)
        merge_diff_fp32 = float((merged(x) - adapted).abs().max())
        w64 = copy.deepcopy(wrapped).double()  # the same merge in float64: the algebra, without FP32 rounding
        before64 = w64(x)
        merge_all_(w64)
        merge_diff = float((w64(x) - before64).abs().max())
    # the registered phase-28 tutor adapter: merged and unmerged logits, float64
    tutor, _, tck = T.tutor(bool(cfg["quick"]))
    registry.record(rec, tck)
    with torch.no_grad(), torch_threads():
        t64 = copy.deepcopy(tutor).double()
        before = t64(x)
        plain = T.merged_copy(t64).double().eval()
        tutor_merge_diff = float((plain(x) - before).abs().max())
    lin = LoRALinear(nn.Linear(64, 64), r=8)
    with torch.no_grad():  # y = W x + b + (alpha / r) B A x, with hand-set A and B, in float64
        probe = LoRALinear(nn.Linear(6, 5).double(), r=2, alpha=3.0)
        probe.A.copy_(torch.arange(12, dtype=torch.float64).reshape(2, 6) / 10)
        probe.B.copy_(torch.arange(10, dtype=torch.float64).reshape(5, 2) / 7)
        xs = torch.linspace(-1, 1, 18, dtype=torch.float64).reshape(3, 6)
        want = xs @ probe.base.weight.T + probe.base.bias + 1.5 * (xs @ probe.A.double().T @ probe.B.double().T)
        formula_err = float((probe(xs) - want).abs().max())
    state = lora_state_dict(wrapped)
    base_frozen = not any(p.requires_grad for n, p in wrapped.named_parameters() if not n.endswith((".A", ".B")))
    out = {"init_output_diff": init_diff, "merge_max_abs_diff": merge_diff, "merge_max_abs_diff_fp32": merge_diff_fp32,
           "tutor_merge_max_abs_diff_fp64": tutor_merge_diff, "logits_max_abs": float(adapted.abs().max()),
           "roundtrip_max_abs_diff": roundtrip, "adapter_file_hash_ok": digest == adapter_hash(state),
           "params_linear64_r8": sum(p.numel() for p in (lin.A, lin.B)), "base_requires_grad": not base_frozen,
           "forward_vs_formula_max_abs_diff": formula_err,
           "standalone_base_frozen": not any(p.requires_grad for p in lin.base.parameters()),
           "adapter_effect_max_abs": float((adapted - ref).abs().max()),
           "n_wrapped_modules": len(lora_modules(wrapped)), "adapter_params": sum(t.numel() for t in state.values())}
    try:
        LoRALinear(nn.Linear(64, 64), r=0)
        out["rank_zero_rejected"] = False
    except ValueError:
        out["rank_zero_rejected"] = True
    rec.note(f"init diff {init_diff}, merge diff {merge_diff:.2e} (fp32 {merge_diff_fp32:.2e}), phase-28 tutor merged "
             f"vs unmerged {tutor_merge_diff:.2e} in float64; save/load diff {roundtrip:.2e}; "
             f"{out['n_wrapped_modules']} modules wrapped, {out['adapter_params']} adapter parameters")
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
    out["count_matches_model"] = n_params(GPT(mcfg)) == n
    return out


# ---------------------------------------------------------------------- lab 02: the tutor + rank sweep
def _score(model: nn.Module, tok: Any, examples: list[B.Example]) -> dict[str, float]:
    with torch_threads():
        return T.score_tutor(model, tok, examples)


def lora_finetune(cfg: dict, rec: Recorder) -> dict:
    quick = bool(cfg["quick"])
    base, tok = _base(cfg, rec)
    before_hash = spine_hash(base)
    _, test, unseen = T.tutor_split(int(cfg["test_percent"]))
    test, unseen = test[: int(cfg["n_test"])], unseen[: int(cfg["n_unseen"])]
    acc0, ppl0 = _score(base, tok, test), _control_ppl(base, tok)
    broken = cfg["fault"] == FAULT
    r_main = 0 if broken else int(cfg["r"])
    ranks = [r_main] if broken else sorted({int(r) for r in cfg["ranks"]} | {r_main})
    seen = T.seen_token_ids(tok, "phase-18", quick)
    out: dict[str, Any] = {"base_form_acc": acc0["form"], "base_all_acc": acc0["all"], "base_control_ppl": ppl0,
                           "n_test": len(test), "n_unseen": len(unseen)}
    stage_cfg = T._config(quick)  # the registered recipe; a rank that is not the stage's trains here
    for i, r in enumerate(ranks):
        if r == int(stage_cfg["r"]) and not broken:
            model, _, ck = T.tutor(quick)
            out["adapter"] = registry.record(rec, ck)
            out["adapter_hashes"] = T.adapter_record(ck)
            hist = [float(v) for v in __import__("json").loads((ck.path / "history.json").read_text())["loss"]]
            for step, v in enumerate(hist):
                rec.log(step, stage="train", train_loss=v)
            losses = hist
        else:
            model, losses, _ = T.build_adapter({**stage_cfg, "r": r}, base, tok, seen,
                                               on_step=(lambda s, v: rec.log(s, stage="train", train_loss=v))
                                               if r == r_main else None)
        acc, ppl = _score(model, tok, test), _control_ppl(model, tok)
        drift = 100.0 * (ppl - ppl0) / ppl0
        rec.log(i, stage="rank_sweep", rank=r, form_acc=acc["form"], all_acc=acc["all"], control_ppl_drift_pct=drift)
        rec.progress(i + 1, len(ranks))
        if r != r_main:
            continue
        adapter = lora_state_dict(model)
        n_adapter = sum(t.numel() for t in adapter.values())
        un = _score(model, tok, unseen)
        base_now = {n.replace(".base.", "."): p for n, p in model.state_dict().items() if not n.endswith((".A", ".B"))}
        base_now.pop("E")  # the rows of unseen tokens train with the adapter (checked below); the rest must not move
        seen_rows = sorted(seen)
        out.update({
            "rank": r, "form_acc": acc["form"], "reason_acc": acc["reason"], "spanish_acc": acc["spanish"],
            "all_acc": acc["all"], "form_acc_gain_pp": 100.0 * (acc["form"] - acc0["form"]),
            "all_acc_gain_pp": 100.0 * (acc["all"] - acc0["all"]),
            "unseen_verbs_form_acc": un["form"], "unseen_verbs_all_acc": un["all"],
            "control_ppl": ppl, "control_ppl_drift_pct": drift,
            "trainable_lora_params": sum(p.numel() for p in lora_parameters(model)),
            "base_max_abs_diff": max(float((base_now[n] - p).abs().max()) for n, p in base.state_dict().items()
                                     if n != "E"),
            "seen_embedding_rows_max_abs_diff": float((model.E.detach()[seen_rows] - base.E[seen_rows]).abs().max()),
            "base_hash_unchanged": spine_hash(base) == before_hash,
            "adapter_bytes_fp16": 2 * n_adapter, "first_loss": losses[0] if losses else 0.0,
            "last_loss": losses[-1] if losses else 0.0,
            "adapter_bytes_match_formula": 2 * n_adapter == 2 * counts.lora_params(base.cfg, r),
            "adapter_fraction_of_base": 2 * n_adapter / (4 * n_params(base)),
        })
        for j, e in enumerate(test[:5]):
            rec.note(f"{B.tutor_prompt(e.text)!r} -> {T.generate_reply(model, tok, B.tutor_prompt(e.text))!r}")
            del j
    rec.note(f"rank {r_main}: all-three-fields accuracy {acc0['all']:.2f} -> {out['all_acc']:.2f} (form "
             f"{acc0['form']:.2f} -> {out['form_acc']:.2f}); unseen verbs {out['unseen_verbs_all_acc']:.2f}; control "
             f"PPL drift {out['control_ppl_drift_pct']:+.2f} %")
    return out


def spine_hash(model: nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------- lab 03: QLoRA preview
def qlora_preview(cfg: dict, rec: Recorder) -> dict:
    base, tok = _base(cfg, rec)
    r, alpha = int(cfg["r"]), float(cfg["alpha"])
    rows = T.training_rows({**T._config(bool(cfg["quick"])), "replay_ratio": float(cfg["replay_ratio"])}, tok,
                           base.cfg.context_len)
    # model A: FP16-stored base Linears + adapter; model B: NF4 base + the same adapter.
    # The (frozen, tied) embedding is FP32 in A and FP16-rounded in B; the memory difference is the Linears'.
    a = wrap_minigpt_with_lora(spine.fresh_copy(base), r=r, alpha=alpha, dropout=0.0)
    for m in lora_modules(a):
        m.base.half()
    b = wrap_minigpt_qlora(spine.fresh_copy(base), r=r, alpha=alpha, quant_scheme=str(cfg["quant_scheme"]),
                           dropout=0.0)
    for model in (a, b):
        model.E.requires_grad_(False)
    with torch.no_grad():
        b.E.copy_(base.E)
        gen = torch.Generator().manual_seed(int(cfg["seed"]))
        for m in lora_modules(a):
            m.B.copy_(torch.randn(m.B.shape, generator=gen) * 0.02)
        from engine.torchstack.finetune.lora import load_lora_state_dict

        load_lora_state_dict(b, lora_state_dict(a))
    x, _ = batch_tensors(rows[:64], B.PAD)
    with torch.no_grad(), torch_threads():
        la, lb = a(x), b(x)
    rel = float((la - lb).abs().mean() / la.abs().mean())
    mem: dict[str, int] = {}
    losses_b: list[float] = []
    batch = int(cfg["batch"])
    for tag, model in (("lora", a), ("qlora", b)):
        opt = torch.optim.AdamW(lora_parameters(model), lr=float(cfg["lr"]), weight_decay=0.0)
        mem[f"{tag}_bytes_after_construction"] = tensor_bytes(model)
        steps = int(cfg["steps"]) if tag == "qlora" else 2
        gen_t = torch.Generator().manual_seed(int(cfg["seed"]))
        model.train()
        with torch_threads():
            for step in range(steps):
                idx = torch.randint(len(rows), (batch,), generator=gen_t).tolist()
                xb, yb = batch_tensors([rows[i] for i in idx], B.PAD)
                loss = sft_loss(model, xb, yb)
                opt.zero_grad(set_to_none=False)
                loss.backward()
                opt.step()
                if tag == "qlora":
                    losses_b.append(float(loss.detach()))
                    rec.log(step, stage="train", train_loss=losses_b[-1])
                if step == 1:
                    mem[f"{tag}_bytes_mid_training"] = tensor_bytes(model, opt.state)
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
