"""Experiment xmetric-validate: every cross-metric estimator against an exact value.

Fisher: logistic regression, whose Fisher (and Hessian of the mean NLL) is X^T diag(p(1-p)) X / n.
Curvature: a small tanh MLP whose full Hessian torch.autograd.functional.hessian can form;
Hutchinson's trace, power iteration and Lanczos use only Hessian-vector products.
CKA: invariances that must give exactly 1, the Gram/feature forms agreeing, and the
small-n bias that debiased CKA removes. Heads: ablation by gate equals ablation by weights,
and a planted dead head scores exactly zero on every head metric.

Faults: `uniform_probes` (Hutchinson with U(0,1) probes, E[vv^T] != I), `shuffled_rows`
(CKA between copies whose rows no longer refer to the same examples), `empirical_as_true`
(the "true" Fisher computed with the data's labels instead of the model's).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.core.run import Recorder
from engine.core.threads import torch_threads as single_thread
from engine.research.crossmetric import cka, curvature, fisher, flat, heads
from engine.research.crossmetric.exact_checks import blob_mlp, curvature_against_exact, rel
from engine.research.crossmetric.models import MLP, TinyConfig, TinyTransformer, head_slices
from engine.research.crossmetric.verbs_lm import corpus, mean_loss, seq_logp

F64 = torch.float64
SECTIONS = ("fisher", "curvature", "cka", "heads")  # cfg["sections"] may pick a subset


def _logreg_section(cfg: dict[str, Any], rec: Recorder, gen: torch.Generator, dev: str) -> dict[str, Any]:
    n, d = int(cfg["logreg_n"]), int(cfg["logreg_d"])
    x = torch.randn(n, d, generator=gen, dtype=F64).to(dev)
    w_data = torch.randn(d, generator=gen, dtype=F64).to(dev)
    y = torch.bernoulli(torch.sigmoid(x @ w_data).cpu(), generator=gen).long().to(dev)
    w = (w_data + 0.8 * torch.randn(d, generator=gen, dtype=F64).to(dev))  # the model is not the data's source
    p = torch.sigmoid(x @ w)
    closed = x.T @ (x * (p * (1 - p)).unsqueeze(1)) / n

    def logp(params: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        z = xi @ params["w"]
        return torch.where(yi == 1, F.logsigmoid(z), F.logsigmoid(-z))

    params = {"w": w}
    probs = torch.stack([1 - p, p], 1)
    label_source = y if cfg["fault"] == "empirical_as_true" else None
    if label_source is None:
        true_diag = fisher.true_fisher_diag_exact(logp, probs, params, x)["w"]
    else:
        true_diag = fisher.empirical_fisher_diag(logp, params, x, label_source)["w"]
    # Full matrix from the same per-sample gradients, weighted by the model's class probabilities.
    full = torch.zeros(d, d, dtype=F64, device=dev)
    for c in (0, 1):
        g = fisher.per_sample_grads(logp, params, x, torch.full_like(y, c))["w"]
        full += (g * probs[:, c : c + 1]).T @ g / n
    hess = curvature.exact_hessian(lambda v: -torch.vmap(logp, in_dims=(None, 0, 0))({"w": v}, x, y).mean(), w)

    def draw(gn: torch.Generator) -> Tensor:
        return torch.bernoulli(p.cpu(), generator=gn).long().to(dev)

    mc = fisher.true_fisher_diag_mc(logp, draw, params, x, int(cfg["fisher_mc"]), gen)["w"]
    emp = fisher.empirical_fisher_diag(logp, params, x, y)["w"]
    out = {
        "fisher_true_rel_err": rel(true_diag, closed.diagonal()),
        "fisher_full_rel_err": rel(full, closed),
        "hessian_eq_fisher_rel_err": rel(hess, closed),
        "fisher_mc_rel_err": rel(mc, closed.diagonal()),
        "fisher_empirical_rel_diff": rel(emp, closed.diagonal()),
    }
    for i in range(d):
        rec.log(i, stage="fisher", param=f"w{i}", closed=float(closed[i, i]), true_exact=float(true_diag[i]),
                true_mc=float(mc[i]), empirical=float(emp[i]))
    return out


def _curvature_section(cfg: dict[str, Any], rec: Recorder, gen: torch.Generator, model: MLP, x: Tensor,
                       y: Tensor) -> dict[str, Any]:
    check = curvature_against_exact(model, x, y, gen, probes=int(cfg["probes"]), power_iters=int(cfg["power_iters"]),
                                    lanczos_steps=int(cfg["lanczos_steps"]), seed=int(cfg["seed"]),
                                    uniform_probes=cfg["fault"] == "uniform_probes")
    for kind, m, err in check.hutchinson:
        rec.log(m, stage="hutchinson", probe=kind, n_probes=m, abs_rel_err=err)
    for i, (exact, lanczos) in enumerate(check.spectrum):
        rec.log(i, stage="spectrum", rank=f"top{i + 1}", exact=exact, lanczos=lanczos)
    return check.facts


def _cka_section(cfg: dict[str, Any], rec: Recorder, gen: torch.Generator, model: MLP, x: Tensor) -> dict[str, Any]:
    with torch.no_grad():
        _, hidden = model(x, return_hidden=True)
    rep = hidden[0].cpu()
    q, _ = torch.linalg.qr(torch.randn(rep.shape[1], rep.shape[1], generator=gen, dtype=F64))
    a = torch.randn(rep.shape[1], rep.shape[1], generator=gen, dtype=F64)
    rows = torch.randperm(rep.shape[0], generator=gen) if cfg["fault"] == "shuffled_rows" else slice(None)
    rotated, scaled = (rep @ q)[rows], (3.7 * rep + 2.0)[rows]
    n_w, p_w = int(cfg["cka_null_n"]), int(cfg["cka_null_width"])
    u, w = torch.randn(n_w, p_w, generator=gen, dtype=F64), torch.randn(n_w, p_w, generator=gen, dtype=F64)
    out = {
        "cka_orthogonal": cka.linear_cka(rep, rotated),
        "cka_scaled": cka.linear_cka(rep, scaled),
        "dcka_orthogonal": cka.debiased_cka(rep, rotated),
        "cka_self": cka.linear_cka(rep, rep),
        "cka_general_linear": cka.linear_cka(rep, rep @ a),
        "cka_gram_vs_feature": abs(cka.linear_cka(rep, hidden[1].cpu()) - cka.linear_cka_gram(rep, hidden[1].cpu())),
        "cka_null_biased": cka.linear_cka(u, w),
        "cka_null_debiased_abs": abs(cka.debiased_cka(u, w)),
    }
    for i, (name, val) in enumerate(out.items()):
        if name != "cka_gram_vs_feature":
            rec.log(i, stage="cka", case=name, cka=val)
    return out


def _heads_section(cfg: dict[str, Any], gen: torch.Generator, dev: str) -> dict[str, Any]:
    xs, ys, vocab = corpus()
    xs, ys = xs.to(dev), ys.to(dev)
    model = TinyTransformer(TinyConfig(vocab_size=len(vocab), n_ctx=xs.shape[1], n_layers=2)).to(dev, F64).eval()
    dead = (1, 2)
    with torch.no_grad():
        dh = model.cfg.d_model // model.cfg.n_heads
        model.blocks[dead[0]].o.weight[:, dead[1] * dh : (dead[1] + 1) * dh] = 0.0

    def loss(m: TinyTransformer) -> Tensor:
        return mean_loss(m(xs), ys)

    drops = heads.ablation_drops(model, loss)
    by_weights = torch.tensor([[heads.ablation_by_weights(model, loss, la, h) for h in range(drops.shape[1])]
                               for la in range(drops.shape[0])], dtype=F64, device=drops.device)
    logp = seq_logp(model)
    gate_f = (heads.gate_grads(model, logp, xs, ys) ** 2).mean(0)
    diag = fisher.empirical_fisher_diag(logp, flat.param_dict(model), xs, ys)
    live = torch.ones_like(drops, dtype=torch.bool)
    live[dead] = False
    # The planted head's Q/K/V rows reach the loss only through its zeroed O columns, so their
    # Fisher must vanish; its O columns still get gradient (they multiply a non-zero head output).
    qkv = head_slices(model)[dead][:3]
    dead_qkv = sum(float(diag[name][idx].sum()) for name, idx in qkv)
    live_qkv = min(sum(float(diag[name][idx].sum()) for name, idx in parts[:3])
                   for hd, parts in head_slices(model).items() if hd != dead)
    return {
        "ablation_gate_vs_weights": float((drops - by_weights).abs().max()),
        "dead_head_ablation": abs(float(drops[dead])),
        "dead_head_gate_fisher": float(gate_f[dead]),
        "live_head_min_gate_fisher": float(gate_f[live].min()),
        "live_head_min_ablation": float(drops[live].abs().min()),
        "dead_head_qkv_fisher": dead_qkv,
        "live_head_min_qkv_fisher": live_qkv,
    }


def validate(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    dev = cfg["device"]
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    torch.manual_seed(int(cfg["seed"]))
    wanted = set(cfg.get("sections") or SECTIONS)
    out: dict[str, Any] = {}
    with single_thread():
        if "fisher" in wanted:
            out.update(_logreg_section(cfg, rec, gen, dev))
        rec.progress(1, 4)
        if wanted & {"curvature", "cka"}:
            model, x, y = blob_mlp(int(cfg["mlp_n"]), list(cfg["mlp_hidden"]), int(cfg["mlp_steps"]), gen, dev)
            if "curvature" in wanted:
                out.update(_curvature_section(cfg, rec, gen, model, x, y))
            rec.progress(2, 4)
            if "cka" in wanted:
                out.update(_cka_section(cfg, rec, gen, model, x))
        rec.progress(3, 4)
        if "heads" in wanted:
            out.update(_heads_section(cfg, gen, dev))
        rec.progress(4, 4)
    return out
