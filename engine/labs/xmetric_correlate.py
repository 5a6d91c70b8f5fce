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
from torch import Tensor

from engine.core.run import Recorder
from engine.core.threads import torch_threads as single_thread
from engine.labs._heatmaps import heatmap_grid
from engine.research.crossmetric import scope, table
from engine.research.crossmetric.models import TinyConfig
from engine.research.crossmetric.survey import (
    GROUP_METRICS,
    HEAD_METRICS,
    Budget,
    SeedSurvey,
    cka_layers_and_seeds,
    pooled_pairs,
    survey_seed,
)
from engine.research.crossmetric.verbs_lm import corpus, unigram_loss

SHORT = {"fisher_emp": "F_emp", "fisher_true": "F_true", "hessian": "H_diag", "grad_sq": "g^2", "weight_rms": "|w|",
         "gate_fisher": "gateF", "gate_fisher_true": "gateF_true", "taylor": "taylor1", "taylor2": "taylor2",
         "param_fisher": "paramF", "param_hessian": "paramH", "entropy": "entropy", "ov_norm": "OV"}  # chart labels


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


def _tiny_config(cfg: dict[str, Any], vocab_size: int, n_ctx: int) -> TinyConfig:
    d = int(cfg["d_model"])
    return TinyConfig(vocab_size=vocab_size, n_ctx=n_ctx, d_model=d, n_heads=int(cfg["n_heads"]),
                      n_layers=int(cfg["n_layers"]), d_ff=2 * d)


def _survey_all(cfg: dict[str, Any], rec: Recorder, tcfg: TinyConfig, xs: Tensor, ys: Tensor) -> list[SeedSurvey]:
    """One survey per seed, its training curve logged as it finishes."""
    budget = Budget(fisher_mc=int(cfg["fisher_mc"]), hess_seqs=int(cfg["hess_seqs"]), probes=int(cfg["probes"]),
                    scope_batch=int(cfg["scope_batch"]), scope_batches=int(cfg["scope_batches"]))
    n_models = int(cfg["models"])
    out = []
    with single_thread():
        for s in range(n_models):
            seed = int(cfg["seed"]) + s
            sv = survey_seed(tcfg, xs, ys, int(cfg["steps"]), float(cfg["lr"]), seed, s, budget)
            for step in range(0, len(sv.losses), max(1, len(sv.losses) // 40)):
                rec.log(step, stage="train", model=f"seed {seed}", loss=sv.losses[step])
            out.append(sv)
            rec.progress(s + 1, n_models + 1)
    return out


def _log_pairs(rec: Recorder, pairs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The scope's significant discoveries, rho against ablation, the matrix pairs; returns the discoveries."""
    found = sorted((r for r in pairs["scope"] if float(r["p_bh"]) < 0.05), key=lambda r: -abs(float(r["rho"])))
    for i, r in enumerate(found[:12]):
        rec.log(i, stage="discoveries", pair=str(r["pair"]), rho=float(r["rho"]), p_bh=float(r["p_bh"]),
                ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]))
    for i, r in enumerate(r for r in pairs["heads"] if r["a"] == "ablation"):
        rec.log(i, stage="rho_ablation", metric=SHORT[str(r["b"])], rho=float(r["rho"]), p_bh=float(r["p_bh"]))
    for i, r in enumerate(pairs["groups"]):
        rec.log(i, stage="spearman_groups", pair=f"{SHORT[str(r['a'])]}~{SHORT[str(r['b'])]}",
                rho=float(r["rho"]), p_bh=float(r["p_bh"]))
    return found


def correlate(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    xs, ys, vocab = corpus()
    xs, ys = xs.to(cfg["device"]), ys.to(cfg["device"])
    tcfg = _tiny_config(cfg, len(vocab), xs.shape[1])
    surveys = _survey_all(cfg, rec, tcfg, xs, ys)
    head_rows = [r for sv in surveys for r in sv.head_rows]
    group_rows = [r for sv in surveys for r in sv.group_rows]
    scope_rows = [r for sv in surveys for r in sv.scope_rows]
    scope_reports = [sv.scope_report for sv in surveys]
    for i, row in enumerate(head_rows):
        rec.log(i, stage="heads", **row)
    scope_names = scope_reports[0]["metrics"]
    pairs = pooled_pairs(head_rows, group_rows, scope_rows, scope_names, int(cfg["bootstrap"]), int(cfg["seed"]),
                         int(cfg["ci_pairs"]))
    warning = table.small_n_warning(len(head_rows), "heads in the pooled table")
    if warning:
        rec.note(warning)
    scope_warning = table.small_n_warning(len(scope_rows), "(model, batch) rows in the scope's discovery table")
    if scope_warning:
        rec.note(scope_warning)
    rec.note(f"metric scope: {len(scope_names)} metrics computed in one pass per batch on "
             f"{len(scope_rows)} (model, batch) rows: {', '.join(scope_names)}")
    found = _log_pairs(rec, pairs)

    within, cross = cka_layers_and_seeds([sv.reps for sv in surveys], int(cfg["seed"]),
                                         shuffle_rows=cfg["fault"] == "shuffled_rows")
    for i in range(within.shape[0] - 1):
        rec.log(i, stage="cka_layers", layers=f"{i}-{i + 1}", cka=float(within[i, i + 1]))
    for i, c in enumerate(cross):
        layer = i % len(surveys[0].reps)   # one CKA per residual stream (embedding and each layer)
        rec.log(layer, stage="cka_seeds", layer=f"layer {layer}", cka=c)
    rec.progress(len(surveys) + 1, len(surveys) + 1)
    _write_tables(rec, head_rows, group_rows, pairs)
    _write_scope(rec, scope_rows, scope_names, scope_reports[0])
    out = _scope_result(scope_rows, scope_names, scope_reports, scope_warning, found)
    out.update(_head_result(head_rows, group_rows, pairs, warning))
    out.update({
        "final_loss_max": max(sv.final_loss for sv in surveys),
        "unigram_loss": unigram_loss(ys),
        "cka_layers_diag": float(within.diagonal().min()),
        "cka_adjacent_layers_mean": float(within.diagonal(1).mean()),
        "cka_cross_seed_mean": float(np.mean(cross)) if cross else float("nan"),
    })
    return out


def _scope_result(scope_rows: list[dict[str, Any]], scope_names: list[str], scope_reports: list[dict[str, Any]],
                  scope_warning: str | None, found: list[dict[str, Any]]) -> dict[str, Any]:
    table_names = [f"head.{k}" for k in HEAD_METRICS] + [f"matrix.{k}" for k in GROUP_METRICS] + [
        "repr.cka_layers", "repr.cka_seeds"]
    scope_values = [r[k] for r in scope_rows for k in scope_names]
    return {
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
    }


def _head_result(head_rows: list[dict[str, Any]], group_rows: list[dict[str, Any]],
                 pairs: dict[str, list[dict[str, Any]]], warning: str | None) -> dict[str, Any]:
    hp = {str(r["pair"]): r for r in pairs["heads"]}
    gp = {str(r["pair"]): r for r in pairs["groups"]}
    values = [r[k] for r in head_rows for k in HEAD_METRICS] + [r[k] for r in group_rows for k in GROUP_METRICS]
    strongest = max((r for r in pairs["heads"] if "ablation" in str(r["pair"])), key=lambda r: abs(float(r["rho"])))
    out: dict[str, Any] = {
        "correlation_n": len(head_rows),
        "correlation_n_ok": warning is None,
        "correlation_warning": warning,
        "n_heads": len(head_rows),
        "n_groups": len(group_rows),
        "tables_finite": bool(np.isfinite(np.array(values)).all()),
        "max_ablation_drop": max(r["ablation"] for r in head_rows),
        "strongest_ablation_predictor": str(strongest["pair"]),
    }
    for name in HEAD_METRICS[1:]:
        r = hp[f"ablation~{name}"]
        out[f"rho_ablation_{name}"] = float(r["rho"])
        out[f"rho_ablation_{name}_ci"] = [float(r["ci_low"]), float(r["ci_high"])]
    out["p_bh_ablation_gate_fisher"] = float(hp["ablation~gate_fisher"]["p_bh"])
    for a, b in (("fisher_emp", "fisher_true"), ("fisher_true", "hessian"), ("fisher_emp", "hessian")):
        out[f"rho_groups_{a}_{b}"] = float(gp[f"{a}~{b}"]["rho"])
    return out
