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

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.core.run import Recorder
from engine.core.threads import torch_threads as single_thread
from engine.research.crossmetric import cka, curvature, fisher, flat, heads
from engine.research.crossmetric.models import MLP, TinyConfig, TinyTransformer, head_slices
from engine.research.crossmetric.verbs_lm import corpus, mean_loss, seq_logp

F64 = torch.float64
SECTIONS = ("fisher", "curvature", "cka", "heads")  # cfg["sections"] may pick a subset


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm())


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
        "fisher_true_rel_err": _rel(true_diag, closed.diagonal()),
        "fisher_full_rel_err": _rel(full, closed),
        "hessian_eq_fisher_rel_err": _rel(hess, closed),
        "fisher_mc_rel_err": _rel(mc, closed.diagonal()),
        "fisher_empirical_rel_diff": _rel(emp, closed.diagonal()),
    }
    for i in range(d):
        rec.log(i, stage="fisher", param=f"w{i}", closed=float(closed[i, i]), true_exact=float(true_diag[i]),
                true_mc=float(mc[i]), empirical=float(emp[i]))
    return out


def _mlp_problem(cfg: dict[str, Any], gen: torch.Generator, dev: str) -> tuple[MLP, Tensor, Tensor]:
    """Four Gaussian blobs in 6-D, a tanh MLP fitted for a few dozen Adam steps (float64)."""
    n, k = int(cfg["mlp_n"]), 4
    centres = 1.5 * torch.randn(k, 6, generator=gen, dtype=F64)
    y = torch.randint(0, k, (n,), generator=gen)
    x = (centres[y] + torch.randn(n, 6, generator=gen, dtype=F64)).to(dev)
    model = MLP([6, *cfg["mlp_hidden"], k]).to(dev, F64)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(int(cfg["mlp_steps"])):
        loss = F.cross_entropy(model(x), y.to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, x, y.to(dev)


def _curvature_section(cfg: dict[str, Any], rec: Recorder, gen: torch.Generator, dev: str,
                       model: MLP, x: Tensor, y: Tensor) -> dict[str, Any]:
    template = flat.param_dict(model)
    f = flat.loss_of_flat(model, template, lambda m, p: F.cross_entropy(flat.call(m, p, x), y))
    theta = flat.flatten(template)
    h = curvature.exact_hessian(f, theta)
    h = (h + h.T) / 2
    eig = torch.linalg.eigvalsh(h)
    trace = float(h.trace())
    hvp = curvature.HVP(f, theta)

    v = curvature.probes("gaussian", 1, theta.numel(), gen, theta)[0]
    exact_hv = h @ v
    hvp_err = max(_rel(hvp(v), exact_hv), _rel(curvature.hvp_double_backward(f, theta, v), exact_hv))

    kind = "uniform" if cfg["fault"] == "uniform_probes" else "rademacher"
    n_probes = int(cfg["probes"])
    samples, diag = curvature.hutchinson(hvp, theta, n_probes, gen, kind)
    est = float(samples.mean())
    std = math.sqrt(curvature.hutchinson_variance(h, "rademacher") / n_probes)
    gauss, _ = curvature.hutchinson(hvp, theta, n_probes, gen, "gaussian")
    for kind_name, s in (("rademacher" if kind == "rademacher" else "uniform", samples), ("gaussian", gauss)):
        run = torch.cumsum(s, 0) / torch.arange(1, len(s) + 1, device=s.device)
        for m in np.unique(np.geomspace(4, n_probes, 12).astype(int)):
            rec.log(int(m), stage="hutchinson", probe=kind_name, n_probes=int(m),
                    abs_rel_err=abs(float(run[m - 1]) - trace) / abs(trace))
    for m in np.unique(np.geomspace(4, n_probes, 12).astype(int)):
        rec.log(int(m), stage="hutchinson", probe="rademacher theory (1 sd)", n_probes=int(m),
                abs_rel_err=math.sqrt(curvature.hutchinson_variance(h) / m) / abs(trace))

    top = eig[eig.abs().argmax()]
    lam, iters = curvature.power_iteration(hvp, theta, gen, iters=int(cfg["power_iters"]))
    ritz = curvature.lanczos(hvp, theta, gen, m=int(cfg["lanczos_steps"]))
    top3 = eig.flip(0)[:3]
    own_gen = torch.Generator(gen.device).manual_seed(int(cfg["seed"]) + 1)  # leaves gen's stream to the later sections
    lam_neg, _ = curvature.power_iteration(lambda u: -hvp(u), theta, own_gen, iters=int(cfg["power_iters"]))
    block = h.diagonal().abs().topk(min(10, theta.numel())).indices
    h_block = h[block][:, block]
    var_closed, var_enum = curvature.hutchinson_variance(h_block), curvature.rademacher_variance_enumerated(h_block)
    for i in range(3):
        rec.log(i, stage="spectrum", rank=f"top{i + 1}", exact=float(top3[i]), lanczos=float(ritz[i]))
    ones = torch.ones_like(theta)
    return {
        "n_params_mlp": theta.numel(),
        "hvp_rel_err": hvp_err,
        "trace_exact": trace,
        "trace_hutchinson": est,
        "trace_rel_err": abs(est - trace) / abs(trace),
        "trace_z": abs(est - trace) / std,
        "trace_gaussian_rel_err": abs(float(gauss.mean()) - trace) / abs(trace),
        "uniform_probe_expectation": float(ones @ h @ ones) / 4 + trace / 12,
        "diag_rel_err": _rel(diag, h.diagonal()),
        "diag_sum_vs_trace_samples": abs(float(diag.sum()) - est) / abs(est),
        "rademacher_variance_rel_err": abs(var_closed - var_enum) / var_enum,
        "top_eig_exact": float(top),
        "top_eig_power": lam,
        "power_rel_err": abs(lam - float(top)) / abs(float(top)),
        "power_iters_used": iters,
        "power_negated_rel_err": abs(lam_neg + float(top)) / abs(float(top)),
        "lanczos_top3_rel_err": float(((ritz[:3].to(top3) - top3).abs() / top3.abs()).max()),
        "min_eig_exact": float(eig[0]),
    }


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
            model, x, y = _mlp_problem(cfg, gen, dev)
            if "curvature" in wanted:
                out.update(_curvature_section(cfg, rec, gen, dev, model, x, y))
            rec.progress(2, 4)
            if "cka" in wanted:
                out.update(_cka_section(cfg, rec, gen, model, x))
        rec.progress(3, 4)
        if "heads" in wanted:
            out.update(_heads_section(cfg, gen, dev))
        rec.progress(4, 4)
    return out
