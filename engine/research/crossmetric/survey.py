"""One seed's survey for the cross-metric study: train a tiny transformer, then measure it every way.

The xmetric-correlate experiment pools heads from several seeds into one table and correlates the
columns. Everything a seed contributes is computed here, under one set of conditions (the same
batch, one generator per seed), so the lab only loops over seeds, logs and writes files; tests can
survey one small model without a Recorder. `pooled_pairs` and `cka_layers_and_seeds` are the
pooled steps that follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from engine.research.crossmetric import cka, curvature, fisher, flat, heads, scope, table
from engine.research.crossmetric.models import TinyConfig, TinyTransformer
from engine.research.crossmetric.verbs_lm import mean_loss, sample_targets, seq_logp, train

HEAD_METRICS = ("ablation", "gate_fisher", "gate_fisher_true", "taylor", "taylor2", "param_fisher",
                "param_hessian", "entropy", "ov_norm")
GROUP_METRICS = ("fisher_emp", "fisher_true", "hessian", "grad_sq", "weight_rms")


@dataclass(frozen=True)
class Budget:
    """How much each estimate may cost: MC samples, Hessian sequences and probes, scope batches."""

    fisher_mc: int
    hess_seqs: int
    probes: int
    scope_batch: int
    scope_batches: int


@dataclass
class SeedSurvey:
    """What one seed adds to the pooled tables (rows already tagged with the seed's index)."""

    losses: list[float]
    final_loss: float
    head_rows: list[dict[str, Any]]
    group_rows: list[dict[str, Any]]
    reps: list[Tensor]
    scope_rows: list[dict[str, Any]]
    scope_report: dict[str, Any]


def gate_derivatives(model: TinyTransformer, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """Gradient and Hessian diagonal of the mean loss with respect to the head gates (exact)."""
    g0 = model.head_gate.detach().clone()

    def f(gate: Tensor) -> Tensor:
        return mean_loss(flat.call(model, {"head_gate": gate}, xs), ys)

    grad = torch.func.grad(f)(g0)
    hess = torch.autograd.functional.hessian(f, g0)
    n = g0.numel()
    return grad.detach(), hess.reshape(n, n).diagonal().reshape(g0.shape).detach()


def measure(model: TinyTransformer, xs: Tensor, ys: Tensor, budget: Budget,
            gen: torch.Generator) -> tuple[dict[str, Tensor], dict[str, dict[str, float]], list[Tensor]]:
    """Head metrics (each (L, H)), group metrics (group -> metric -> value), residual stream reps."""

    def loss(m: TinyTransformer) -> Tensor:
        return mean_loss(m(xs), ys)

    logp = seq_logp(model)
    params = flat.param_dict(model)
    emp = fisher.empirical_fisher_diag(logp, params, xs, ys)
    true = fisher.true_fisher_diag_mc(logp, lambda g: sample_targets(model, xs, ys, g), params, xs,
                                      budget.fisher_mc, gen)
    sub = slice(0, budget.hess_seqs)
    f = flat.loss_of_flat(model, params, lambda m, p: mean_loss(flat.call(m, p, xs[sub]), ys[sub]))
    theta = flat.flatten(params)
    _, hdiag_flat = curvature.hutchinson(curvature.HVP(f, theta), theta, budget.probes, gen, block=8)
    hdiag = flat.unflatten(hdiag_flat, params)

    gate_g = heads.gate_grads(model, logp, xs, ys)
    gate_true = heads.gate_grads(model, logp, xs, sample_targets(model, xs, ys, gen))
    grad, curv = gate_derivatives(model, xs, ys)
    with torch.no_grad():
        _, stream, atts = model(xs, trace=True)
    head = {
        "ablation": heads.ablation_drops(model, loss),
        "gate_fisher": (gate_g**2).mean(0),
        "gate_fisher_true": (gate_true**2).mean(0),
        "taylor": grad.abs(),
        "taylor2": -grad + 0.5 * curv,
        "param_fisher": heads.param_slice_sums(emp, model),
        "param_hessian": heads.param_slice_sums(hdiag, model),
        "entropy": heads.attention_entropy(atts, ys >= 0),
        "ov_norm": heads.ov_norms(model),
    }
    full = torch.autograd.grad(loss(model), list(model.parameters()))
    groups = {}
    for (name, p), g in zip(model.named_parameters(), full, strict=True):
        if p.ndim < 2:
            continue
        groups[name] = {"fisher_emp": float(emp[name].mean()), "fisher_true": float(true[name].mean()),
                        "hessian": float(hdiag[name].mean()), "grad_sq": float((g**2).mean()),
                        "weight_rms": float(p.detach().pow(2).mean().sqrt())}
    real = (ys >= 0).reshape(-1)
    reps = [s.reshape(-1, s.shape[-1])[real] for s in stream]
    return head, groups, reps


def scope_rows(model: TinyTransformer, xs: Tensor, ys: Tensor, budget: Budget, seed: int,
               tag: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every registered metric on every batch of the corpus, one scope pass per batch: one row per batch."""
    bs = budget.scope_batch
    n = min(budget.scope_batches, xs.shape[0] // bs)
    batches = [(xs[i * bs:(i + 1) * bs], ys[i * bs:(i + 1) * bs]) for i in range(n)]
    report = scope.run(model, batches, mean_loss, seed=seed)
    rows = [{"row": f"{tag}.b{i}", **{m: report["per_batch"][m][i] for m in report["metrics"]}} for i in range(n)]
    return rows, report


def survey_seed(tcfg: TinyConfig, xs: Tensor, ys: Tensor, steps: int, lr: float, seed: int, index: int,
                budget: Budget) -> SeedSurvey:
    """Train one model from `seed`, then its head table, matrix table, residual reps and scope rows.

    The generator for the Fisher/Hessian estimates is seeded after training, so a seed's numbers do
    not depend on how many seeds came before it."""
    losses: list[float] = []
    model = train(tcfg, xs, ys, steps, lr, seed, losses)
    final = float(mean_loss(model(xs), ys).detach())
    head, groups, reps = measure(model, xs, ys, budget, torch.Generator().manual_seed(seed))
    head_rows = [{"head": f"s{index}.L{layer}.H{h}", **{k: float(v[layer, h]) for k, v in head.items()}}
                 for layer in range(tcfg.n_layers) for h in range(tcfg.n_heads)]
    group_rows = [{"group": f"s{index}.{name}", **vals} for name, vals in groups.items()]
    rows, report = scope_rows(model, xs, ys, budget, seed, f"s{index}")
    return SeedSurvey(losses, final, head_rows, group_rows, reps, rows, report)


def pooled_pairs(head_rows: list[dict[str, Any]], group_rows: list[dict[str, Any]],
                 scope_rows_: list[dict[str, Any]], scope_names: list[str], boot: int, seed: int,
                 ci_pairs: int) -> dict[str, list[dict[str, Any]]]:
    """Spearman pairs (BH-adjusted, bootstrap CIs) for the pooled head, matrix and scope tables."""
    return {
        "heads": table.spearman_pairs({k: [r[k] for r in head_rows] for k in HEAD_METRICS}, boot, seed),
        "groups": table.spearman_pairs({k: [r[k] for r in group_rows] for k in GROUP_METRICS}, boot, seed),
        "scope": table.spearman_pairs({k: [r[k] for r in scope_rows_] for k in scope_names}, boot, seed,
                                      ci_pairs=ci_pairs),
    }


def cka_layers_and_seeds(reps_by_model: list[list[Tensor]], seed: int,
                         shuffle_rows: bool = False) -> tuple[Tensor, list[float]]:
    """Layer x layer CKA within the first model, and same-layer CKA between it and every other seed.

    `shuffle_rows` permutes the other model's token rows first (the fault: rows no longer describe
    the same tokens, so cross-seed CKA should collapse)."""
    within = cka.cka_matrix(reps_by_model[0])
    gen = torch.Generator().manual_seed(seed)
    cross = []
    for other in reps_by_model[1:]:
        for a, b in zip(reps_by_model[0], other, strict=True):
            if shuffle_rows:
                b = b[torch.randperm(b.shape[0], generator=gen).to(b.device)]
            cross.append(cka.linear_cka(a, b))
    return within, cross
