"""Phase 28 labs: LoRALinear by hand, parameter/memory counts, LoRA fine-tune with a rank sweep, QLoRA.

The base is phase 26's cached verb MiniGPT, pre-trained without the past and participle forms
of the eight irregular verbs, so it writes "goed". The adapter is trained on those sentences
(80/10/10 split) mixed with replayed base sentences; accuracy is whether the irregular phrase
outscores the regularised one, the control is perplexity on held-out regular-verb sentences.
Fault `rank_zero` (the break): the adapter is built with r = 0.
"""

from __future__ import annotations

import copy
import random
import resource
from typing import Any

import torch
from torch import nn

from engine.finetune import counts
from engine.finetune.lora import (
    LoRALinear,
    load_lora_state_dict,
    lora_modules,
    lora_parameters,
    lora_state_dict,
    merge_all_,
    wrap_minigpt_with_lora,
)
from engine.finetune.qlora import tensor_bytes, wrap_minigpt_qlora
from engine.quant import lm_train as lt
from engine.quant import verb_corpus as vc
from engine.quant.minigpt import MiniGPT, MiniGPTConfig
from engine.run import Recorder
from engine.threads import torch_threads

FAULT = "rank_zero"


def _base(cfg: dict) -> MiniGPT:
    """The cached base model; also reseeds torch so adapter init and dropout are reproducible."""
    torch.manual_seed(int(cfg["seed"]))
    with torch_threads():
        return lt.pretrained_minigpt(seed=int(cfg["seed"]))


# ---------------------------------------------------------------------- lab 00: LoRALinear by hand
def lora_by_hand(cfg: dict, rec: Recorder) -> dict:
    r, alpha = int(cfg["r"]), float(cfg["alpha"])
    base = _base(cfg)
    x, _ = lt.batch_tensors([s.text for s in vc.base_split()[1][:32]])
    with torch.no_grad(), torch_threads():
        ref = base(x)
        wrapped = wrap_minigpt_with_lora(copy.deepcopy(base), r=r, alpha=alpha, dropout=float(cfg["dropout"]))
        wrapped.eval()
        init_diff = float((wrapped(x) - ref).abs().max())
    with torch_threads():  # a few real LoRA steps, so B is no longer zero
        lt.train(wrapped, _finetune_data(cfg), steps=int(cfg["adapter_steps"]), lr=3e-3, batch=16,
                 seed=int(cfg["seed"]), weight_decay=0.0, params=lora_parameters(wrapped))
    with torch.no_grad(), torch_threads():
        adapted = wrapped(x)
        state = lora_state_dict(wrapped)
        fresh = wrap_minigpt_with_lora(copy.deepcopy(base), r=r, alpha=alpha, dropout=0.0)
        fresh.eval()
        load_lora_state_dict(fresh, state)
        roundtrip = float((fresh(x) - adapted).abs().max())
        merged = copy.deepcopy(wrapped)
        merge_all_(merged)
        merge_diff_fp32 = float((merged(x) - adapted).abs().max())
        w64 = copy.deepcopy(wrapped).double()  # the same merge in float64: the algebra, without FP32 rounding
        before64 = w64(x)
        merge_all_(w64)
        merge_diff = float((w64(x) - before64).abs().max())
    lin = LoRALinear(nn.Linear(64, 64), r=8)
    with torch.no_grad():  # y = W x + b + (alpha / r) B A x, with hand-set A and B, in float64
        probe = LoRALinear(nn.Linear(6, 5).double(), r=2, alpha=3.0)
        probe.A.copy_(torch.arange(12, dtype=torch.float64).reshape(2, 6) / 10)
        probe.B.copy_(torch.arange(10, dtype=torch.float64).reshape(5, 2) / 7)
        xs = torch.linspace(-1, 1, 18, dtype=torch.float64).reshape(3, 6)
        want = xs @ probe.base.weight.T + probe.base.bias + 1.5 * (xs @ probe.A.double().T @ probe.B.double().T)
        formula_err = float((probe(xs) - want).abs().max())
    base_frozen = not any(p.requires_grad for n, p in wrapped.named_parameters() if not n.endswith((".A", ".B")))
    out = {"init_output_diff": init_diff, "merge_max_abs_diff": merge_diff, "merge_max_abs_diff_fp32": merge_diff_fp32,
           "logits_max_abs": float(adapted.abs().max()), "roundtrip_max_abs_diff": roundtrip,
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
    rec.note(f"init diff {init_diff}, merge diff {merge_diff:.2e}, save/load diff {roundtrip:.2e}; "
             f"{out['n_wrapped_modules']} modules wrapped, {out['adapter_params']} adapter parameters")
    return out


# ---------------------------------------------------------------------- lab 01: counts
def lora_counts(cfg: dict, rec: Recorder) -> dict:
    mcfg = MiniGPTConfig(**{k: int(cfg[k]) for k in ("n_layer", "d_model", "d_ff", "vocab_size") if k in cfg})
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
    model_count = sum(p.numel() for p in MiniGPT(mcfg).parameters())
    out["count_matches_model"] = model_count == n
    return out


# ---------------------------------------------------------------------- lab 02: fine-tune + rank sweep
def _finetune_data(cfg: dict) -> list[str]:
    train = [s.text for s in vc.irregular_split()[0]]
    replay = [s.text for s in vc.base_split()[0]]
    random.Random(int(cfg["seed"])).shuffle(replay)
    return train + replay[: int(float(cfg["replay_ratio"]) * len(train))]


def _finetune(base: MiniGPT, r: int, cfg: dict, rec: Recorder | None, data: list[str]) -> tuple[nn.Module, list[float]]:
    torch.manual_seed(int(cfg["seed"]))  # each rank starts from the same RNG state
    model = wrap_minigpt_with_lora(copy.deepcopy(base), r=r, alpha=float(cfg["alpha"]),
                                   dropout=float(cfg["dropout"]), allow_rank_zero=True)
    batch = int(cfg["batch"])
    steps = int(cfg["epochs"]) * len(data) // batch

    def log(step: int, loss: float) -> None:
        if rec is not None:
            rec.log(step, stage="train", train_loss=loss)

    with torch_threads():
        losses = lt.train(model, data, steps=steps, lr=float(cfg["lr"]), batch=batch,
                          seed=int(cfg["seed"]), weight_decay=0.0, params=lora_parameters(model), on_step=log)
    return model, losses


def lora_finetune(cfg: dict, rec: Recorder) -> dict:
    base = _base(cfg)
    before_hash = lt.state_hash(base)
    _, _, test = vc.irregular_split()
    control = [s.text for s in vc.control_set()]
    with torch_threads():
        acc0, ppl0 = lt.irregular_accuracy(base, test), lt.perplexity(base, control)
    data = _finetune_data(cfg)
    r_main = 0 if cfg.get("fault") == FAULT else int(cfg["r"])
    ranks = [r_main] if cfg.get("fault") == FAULT else sorted({int(r) for r in cfg["ranks"]} | {r_main})
    out: dict[str, Any] = {"base_irregular_acc": acc0, "base_control_ppl": ppl0, "n_train": len(data),
                           "n_test": len(test), "base_hash": before_hash}
    for i, r in enumerate(ranks):
        model, losses = _finetune(base, r, cfg, rec if r == r_main else None, data)
        with torch_threads():
            acc, ppl = lt.irregular_accuracy(model, test), lt.perplexity(model, control)
        drift = 100.0 * (ppl - ppl0) / ppl0
        rec.log(i, stage="rank_sweep", rank=r, irregular_acc=acc, control_ppl_drift_pct=drift)
        rec.progress(i + 1, len(ranks))
        if r != r_main:
            continue
        adapter = lora_state_dict(model)
        n_adapter = sum(t.numel() for t in adapter.values())
        base_now = {n.replace(".base.", "."): p for n, p in model.state_dict().items() if not n.endswith((".A", ".B"))}
        out.update({
            "rank": r, "irregular_acc": acc, "irregular_acc_gain_pp": 100.0 * (acc - acc0),
            "control_ppl": ppl, "control_ppl_drift_pct": drift,
            "trainable_lora_params": sum(p.numel() for p in lora_parameters(model)),
            "base_max_abs_diff": max(float((base_now[n] - p).abs().max()) for n, p in base.state_dict().items()),
            "base_hash_unchanged": lt.state_hash(base) == before_hash,
            "adapter_bytes_fp16": 2 * n_adapter, "first_loss": losses[0] if losses else 0.0,
            "last_loss": losses[-1] if losses else 0.0,
            "adapter_bytes_match_formula": 2 * n_adapter == 2 * counts.lora_params(base.cfg, r),
            "adapter_fraction_of_base": 2 * n_adapter / (4 * sum(p.numel() for p in base.parameters())),
        })
    rec.note(f"rank {r_main}: irregular accuracy {acc0:.2f} -> {out['irregular_acc']:.2f}, control PPL drift "
             f"{out['control_ppl_drift_pct']:+.2f} %, adapter {out['adapter_bytes_fp16']} B")
    return out


# ---------------------------------------------------------------------- lab 03: QLoRA preview
def qlora_preview(cfg: dict, rec: Recorder) -> dict:
    base = _base(cfg)
    r, alpha = int(cfg["r"]), float(cfg["alpha"])
    data = _finetune_data(cfg)
    # model A: FP16-stored base Linears + adapter; model B: NF4 base + the same adapter.
    # The (frozen, tied) embedding is FP32 in both, so the memory difference is the Linears'.
    a = wrap_minigpt_with_lora(copy.deepcopy(base), r=r, alpha=alpha, dropout=0.0)
    for m in lora_modules(a):
        m.base.half()
    b = wrap_minigpt_qlora(base, r=r, alpha=alpha, quant_scheme=str(cfg["quant_scheme"]),
                           dropout=0.0)
    with torch.no_grad():
        b.tok.weight.copy_(base.tok.weight)
        gen = torch.Generator().manual_seed(int(cfg["seed"]))
        for m in lora_modules(a):
            m.B.copy_(torch.randn(m.B.shape, generator=gen) * 0.02)
        load_lora_state_dict(b, lora_state_dict(a))
    x, _ = lt.batch_tensors([s.text for s in vc.base_split()[1][:64]])
    with torch.no_grad(), torch_threads():
        la, lb = a(x), b(x)
    rel = float((la - lb).abs().mean() / la.abs().mean())
    mem: dict[str, int] = {}
    losses_b: list[float] = []
    batch = int(cfg["batch"])
    for tag, model in (("lora", a), ("qlora", b)):
        opt = torch.optim.AdamW(lora_parameters(model), lr=float(cfg["lr"]), weight_decay=0.0)
        mem[f"{tag}_bytes_after_construction"] = tensor_bytes(model)
        steps = int(cfg["epochs"]) * len(data) // batch if tag == "qlora" else 2
        gen_t = torch.Generator().manual_seed(int(cfg["seed"]))
        model.train()
        with torch_threads():
            for step in range(steps):
                idx = torch.randint(len(data), (batch,), generator=gen_t).tolist()
                xb, yb = lt.batch_tensors([data[i] for i in idx])
                loss = lt.lm_loss(model, xb, yb)
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
