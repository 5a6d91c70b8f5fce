"""Experiment xmetric-correlate: many metrics of the same trained transformers, then their correlations.

Several tiny character transformers (verb corpus, section A13) are trained from different
seeds. On the same batch, for every attention head: ablation loss drop, gate Fisher (empirical
and with labels sampled from the model), first- and second-order Taylor estimates of the drop,
Fisher and Hutchinson-Hessian mass of the head's parameters, attention entropy and OV norm.
For every weight matrix: mean Fisher (empirical and true), mean Hessian diagonal, squared mean
gradient, RMS weight. Representations: CKA between layers, and between seeds at the same layer.
Heads from all seeds are pooled into one table; Spearman's rho with Benjamini-Hochberg
adjusted p-values, a BCa bootstrap interval and a small-n flag is reported for every pair of
metrics (discovery.csv). Below 30 pooled heads the results carry `correlation_warning` and a
loud note: the quick run's 16 heads are too few to trust a rho.

Fault `shuffled_rows`: the second model's token representations are permuted before the
cross-seed CKA, so rows no longer describe the same tokens.
"""

from __future__ import annotations

import csv
import json
from typing import Any

import numpy as np
import torch
from torch import Tensor

from engine.core.run import Recorder
from engine.core.threads import torch_threads as single_thread
from engine.labs._heatmaps import heatmap_grid
from engine.research.crossmetric import cka, curvature, fisher, flat, heads, scope, table
from engine.research.crossmetric.models import TinyConfig, TinyTransformer
from engine.research.crossmetric.verbs_lm import (
    corpus,
    mean_loss,
    sample_targets,
    seq_logp,
    train,
    unigram_loss,
)

HEAD_METRICS = ("ablation", "gate_fisher", "gate_fisher_true", "taylor", "taylor2", "param_fisher",
                "param_hessian", "entropy", "ov_norm")
GROUP_METRICS = ("fisher_emp", "fisher_true", "hessian", "grad_sq", "weight_rms")
SHORT = {"fisher_emp": "F_emp", "fisher_true": "F_true", "hessian": "H_diag", "grad_sq": "g^2", "weight_rms": "|w|",
         "gate_fisher": "gateF", "gate_fisher_true": "gateF_true", "taylor": "taylor1", "taylor2": "taylor2",
         "param_fisher": "paramF", "param_hessian": "paramH", "entropy": "entropy", "ov_norm": "OV"}  # chart labels


def _gate_derivatives(model: TinyTransformer, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """Gradient and Hessian diagonal of the mean loss with respect to the head gates (exact)."""
    g0 = model.head_gate.detach().clone()

    def f(gate: Tensor) -> Tensor:
        return mean_loss(flat.call(model, {"head_gate": gate}, xs), ys)

    grad = torch.func.grad(f)(g0)
    hess = torch.autograd.functional.hessian(f, g0)
    n = g0.numel()
    return grad.detach(), hess.reshape(n, n).diagonal().reshape(g0.shape).detach()


def _measure(model: TinyTransformer, xs: Tensor, ys: Tensor, cfg: dict[str, Any],
             gen: torch.Generator) -> tuple[dict[str, Tensor], dict[str, dict[str, float]], list[Tensor]]:
    """Head metrics (each (L, H)), group metrics (group -> metric -> value), residual stream reps."""

    def loss(m: TinyTransformer) -> Tensor:
        return mean_loss(m(xs), ys)

    logp = seq_logp(model)
    params = flat.param_dict(model)
    emp = fisher.empirical_fisher_diag(logp, params, xs, ys)
    true = fisher.true_fisher_diag_mc(logp, lambda g: sample_targets(model, xs, ys, g), params, xs,
                                      int(cfg["fisher_mc"]), gen)
    sub = slice(0, int(cfg["hess_seqs"]))
    f = flat.loss_of_flat(model, params, lambda m, p: mean_loss(flat.call(m, p, xs[sub]), ys[sub]))
    theta = flat.flatten(params)
    _, hdiag_flat = curvature.hutchinson(curvature.HVP(f, theta), theta, int(cfg["probes"]), gen, block=8)
    hdiag = flat.unflatten(hdiag_flat, params)

    gate_g = heads.gate_grads(model, logp, xs, ys)
    gate_true = heads.gate_grads(model, logp, xs, sample_targets(model, xs, ys, gen))
    grad, curv = _gate_derivatives(model, xs, ys)
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


def _scope_rows(model: TinyTransformer, xs: Tensor, ys: Tensor, cfg: dict[str, Any], seed: int,
                tag: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every registered metric on every batch of the corpus, one scope pass per batch: one row per batch."""
    bs = int(cfg["scope_batch"])
    n = min(int(cfg["scope_batches"]), xs.shape[0] // bs)
    batches = [(xs[i * bs:(i + 1) * bs], ys[i * bs:(i + 1) * bs]) for i in range(n)]
    report = scope.run(model, batches, mean_loss, seed=seed)
    rows = [{"row": f"{tag}.b{i}", **{m: report["per_batch"][m][i] for m in report["metrics"]}} for i in range(n)]
    return rows, report


def _write_tables(rec: Recorder, head_rows: list[dict[str, Any]], group_rows: list[dict[str, Any]],
                  pairs: dict[str, list[dict[str, Any]]]) -> None:
    for name, rows in (("heads_table.csv", head_rows), ("groups_table.csv", group_rows)):
        path = rec.out_dir / name
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        rec.artifact(path, "table")
    path = rec.out_dir / "spearman.json"
    path.write_text(json.dumps(pairs, indent=1))
    rec.artifact(path, "correlations")
    path = rec.out_dir / "discovery.csv"
    with path.open("w", newline="") as fh:
        cols = ["table", "pair", "n", "levels", "rho", "ci_low", "ci_high", "p", "p_bh", "small_n", "few_levels"]
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for name, rows in pairs.items():
            w.writerows({"table": name, **r} for r in rows)
    rec.artifact(path, "table")
    for name, rows, cols in (("heads", head_rows, HEAD_METRICS), ("groups", group_rows, GROUP_METRICS)):
        m = table.spearman_matrix({k: [r[k] for r in rows] for k in cols})
        path = rec.out_dir / f"spearman_{name}.png"
        heatmap_grid([(f"Spearman rho across {len(rows)} {name}", m)], path, ncols=1, ticks=list(cols),
                     cmap="RdBu_r", vmin=-1.0, vmax=1.0)
        rec.artifact(path, "chart")


def _write_scope(rec: Recorder, rows: list[dict[str, Any]], names: list[str], report: dict[str, Any]) -> None:
    path = rec.out_dir / "scope_table.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    rec.artifact(path, "table")
    path = rec.out_dir / "scope_metrics.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["metric", "family", "needs", "value", "doc"])
        w.writeheader()
        w.writerows(scope.table_of(report))
    rec.artifact(path, "table")
    m = table.spearman_matrix({k: [r[k] for r in rows] for k in names})
    path = rec.out_dir / "discovery_scope.png"
    heatmap_grid([(f"Spearman rho, {len(names)} scope metrics over {len(rows)} (model, batch) rows", m)], path,
                 ncols=1, ticks=list(names), cmap="RdBu_r", vmin=-1.0, vmax=1.0, size=(13.0, 12.0))
    rec.artifact(path, "chart")


def correlate(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    dev = cfg["device"]
    xs, ys, vocab = corpus()
    xs, ys = xs.to(dev), ys.to(dev)
    tcfg = TinyConfig(vocab_size=len(vocab), n_ctx=xs.shape[1], d_model=int(cfg["d_model"]),
                      n_heads=int(cfg["n_heads"]), n_layers=int(cfg["n_layers"]), d_ff=2 * int(cfg["d_model"]))
    n_models = int(cfg["models"])
    head_rows: list[dict[str, Any]] = []
    group_rows: list[dict[str, Any]] = []
    reps_by_model: list[list[Tensor]] = []
    scope_rows: list[dict[str, Any]] = []
    scope_reports: list[dict[str, Any]] = []
    final_losses = []
    with single_thread():
        for s in range(n_models):
            seed = int(cfg["seed"]) + s
            losses: list[float] = []
            model = train(tcfg, xs, ys, int(cfg["steps"]), float(cfg["lr"]), seed, losses)
            for step in range(0, len(losses), max(1, len(losses) // 40)):
                rec.log(step, stage="train", model=f"seed {seed}", loss=losses[step])
            final_losses.append(float(mean_loss(model(xs), ys).detach()))
            gen = torch.Generator().manual_seed(seed)
            head, groups, reps = _measure(model, xs, ys, cfg, gen)
            reps_by_model.append(reps)
            for layer in range(tcfg.n_layers):
                for h in range(tcfg.n_heads):
                    head_rows.append({"head": f"s{s}.L{layer}.H{h}",
                                      **{k: float(v[layer, h]) for k, v in head.items()}})
            for name, vals in groups.items():
                group_rows.append({"group": f"s{s}.{name}", **vals})
            rows, report = _scope_rows(model, xs, ys, cfg, seed, f"s{s}")
            scope_rows.extend(rows)
            scope_reports.append(report)
            rec.progress(s + 1, n_models + 1)

    for i, row in enumerate(head_rows):
        rec.log(i, stage="heads", **row)
    boot = int(cfg["bootstrap"])
    head_pairs = table.spearman_pairs({k: [r[k] for r in head_rows] for k in HEAD_METRICS}, boot, int(cfg["seed"]))
    group_pairs = table.spearman_pairs({k: [r[k] for r in group_rows] for k in GROUP_METRICS}, boot,
                                       int(cfg["seed"]))
    warning = table.small_n_warning(len(head_rows), "heads in the pooled table")
    if warning:
        rec.note(warning)
    scope_names = scope_reports[0]["metrics"]
    scope_pairs = table.spearman_pairs({k: [r[k] for r in scope_rows] for k in scope_names}, boot,
                                       int(cfg["seed"]), ci_pairs=int(cfg["ci_pairs"]))
    scope_warning = table.small_n_warning(len(scope_rows), "(model, batch) rows in the scope's discovery table")
    if scope_warning:
        rec.note(scope_warning)
    rec.note(f"metric scope: {len(scope_names)} metrics computed in one pass per batch on "
             f"{len(scope_rows)} (model, batch) rows: {', '.join(scope_names)}")
    found = sorted((r for r in scope_pairs if float(r["p_bh"]) < 0.05), key=lambda r: -abs(float(r["rho"])))
    for i, r in enumerate(found[:12]):
        rec.log(i, stage="discoveries", pair=str(r["pair"]), rho=float(r["rho"]), p_bh=float(r["p_bh"]),
                ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]))
    for i, r in enumerate(r for r in head_pairs if r["a"] == "ablation"):
        rec.log(i, stage="rho_ablation", metric=SHORT[str(r["b"])], rho=float(r["rho"]), p_bh=float(r["p_bh"]))
    for i, r in enumerate(group_pairs):
        rec.log(i, stage="spearman_groups", pair=f"{SHORT[str(r['a'])]}~{SHORT[str(r['b'])]}",
                rho=float(r["rho"]), p_bh=float(r["p_bh"]))

    # Representations: layer x layer within the first model; same layer across seeds.
    within = cka.cka_matrix(reps_by_model[0])
    for i in range(within.shape[0] - 1):
        rec.log(i, stage="cka_layers", layers=f"{i}-{i + 1}", cka=float(within[i, i + 1]))
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    cross = []
    for other in reps_by_model[1:]:
        for layer, (a, b) in enumerate(zip(reps_by_model[0], other, strict=True)):
            if cfg["fault"] == "shuffled_rows":
                b = b[torch.randperm(b.shape[0], generator=gen).to(b.device)]
            cross.append(cka.linear_cka(a, b))
            rec.log(layer, stage="cka_seeds", layer=f"layer {layer}", cka=cross[-1])
    rec.progress(n_models + 1, n_models + 1)
    _write_tables(rec, head_rows, group_rows, {"heads": head_pairs, "groups": group_pairs, "scope": scope_pairs})
    _write_scope(rec, scope_rows, scope_names, scope_reports[0])

    hp = {str(r["pair"]): r for r in head_pairs}
    gp = {str(r["pair"]): r for r in group_pairs}
    values = [r[k] for r in head_rows for k in HEAD_METRICS] + [r[k] for r in group_rows for k in GROUP_METRICS]
    strongest = max((r for r in head_pairs if "ablation" in str(r["pair"])), key=lambda r: abs(float(r["rho"])))
    table_names = [f"head.{k}" for k in HEAD_METRICS] + [f"matrix.{k}" for k in GROUP_METRICS] + [
        "repr.cka_layers", "repr.cka_seeds"]
    scope_values = [r[k] for r in scope_rows for k in scope_names]
    out: dict[str, Any] = {
        "n_metrics": len(scope_names),
        "metrics": scope_names,
        "metrics_head_tables": table_names,
        "scope_rows": len(scope_rows),
        "scope_passes": scope_reports[0]["passes"],
        "scope_skipped": scope_reports[0]["skipped"],
        "scope_non_finite": sorted({n for rep in scope_reports for n in rep["non_finite"]}),
        "scope_correlation_n_ok": scope_warning is None,
        "scope_correlation_warning": scope_warning,
        "scope_discoveries": len(found),
        "scope_top_discoveries": [f"{r['pair']} rho={float(r['rho']):+.2f} p_bh={float(r['p_bh']):.1e}"
                                  for r in found[:10]],
        "scope_finite": bool(np.isfinite(np.array(scope_values, float)).all()),
        "correlation_n": len(head_rows),
        "correlation_n_ok": warning is None,
        "correlation_warning": warning,
        "n_heads": len(head_rows),
        "n_groups": len(group_rows),
        "final_loss_max": max(final_losses),
        "unigram_loss": unigram_loss(ys),
        "tables_finite": bool(np.isfinite(np.array(values)).all()),
        "max_ablation_drop": max(r["ablation"] for r in head_rows),
        "strongest_ablation_predictor": str(strongest["pair"]),
        "cka_layers_diag": float(within.diagonal().min()),
        "cka_adjacent_layers_mean": float(within.diagonal(1).mean()),
        "cka_cross_seed_mean": float(np.mean(cross)) if cross else float("nan"),
    }
    for name in HEAD_METRICS[1:]:
        r = hp[f"ablation~{name}"]
        out[f"rho_ablation_{name}"] = float(r["rho"])
        out[f"rho_ablation_{name}_ci"] = [float(r["ci_low"]), float(r["ci_high"])]
    out["p_bh_ablation_gate_fisher"] = float(hp["ablation~gate_fisher"]["p_bh"])
    for a, b in (("fisher_emp", "fisher_true"), ("fisher_true", "hessian"), ("fisher_emp", "hessian")):
        out[f"rho_groups_{a}_{b}"] = float(gp[f"{a}~{b}"]["rho"])
    return out
