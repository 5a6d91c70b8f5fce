"""Experiment dcsbm-drift: does the attention subspace drift before the model breaks a jumper rule?

1. Draw a DCSBM graph with jumper rules; draw rule-abiding walks (experimental) and rule-free walks
   on the same graph (null: the seed's zero-jumper baseline, jumper positions kept for matching).
2. Train one tiny transformer on each set of walks.
3. Slide an n_ctx window along held-out walks; at every window take layer `layer`'s masked
   scaled QK^T (or AVW_O) per head, its top-k singular subspace, and the Grassmannian distance
   to the previous window's subspace (the drift).
4. At every jumper deadline, label the event a violation when the model's argmax next vertex is
   outside the target block. Score events by drift at lookback 0..r-1.
5. AUROC (Mann-Whitney U) per lookback and head; a permutation null of the best |AUROC - 0.5|;
   a positive control (the model's own probability outside the target block, which must separate
   the classes) and the label-shuffle negative control; PR curve and a logistic calibration of the
   best drift score with its reliability diagram and ECE.

Steps 1-4 (data, models, streamed metrics) are wired here; every statistic of step 5, the
per-metric horizons, the W_V W_O trajectory summary, the null-model comparison and the multi-seed
aggregation are engine/research/dcsbm/study.py's, which returns values and the rows this entry logs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.core.run import MemoryRecorder, Recorder
from engine.core.threads import torch_threads as single_thread
from engine.research.dcsbm import spectral, study
from engine.research.dcsbm.bound_trained import bound_ratios
from engine.research.dcsbm.drift import EventTable, event_table
from engine.research.dcsbm.graph import DCSBM, make_dcsbm
from engine.research.dcsbm.horizon import auroc_ci
from engine.research.dcsbm.model import WalkTransformer
from engine.research.dcsbm.stream import TARGETS, Streamed, stream_eval, wvwo_matrices, wvwo_metrics
from engine.research.dcsbm.train import train_walk_model, windows
from engine.research.dcsbm.walks import generate_walks, rule_compliance


def _train(name: str, walks: np.ndarray, cfg: dict[str, Any], rng: np.random.Generator,
           rec: Recorder, done: list[int], total: int,
           snapshots: list[torch.Tensor] | None = None) -> WalkTransformer:
    every = max(1, cfg["train_steps"] // 40)

    def on_step(step: int, loss: float) -> None:
        if step % every == 0 or step == cfg["train_steps"] - 1:
            rec.log(step, stage="train", model=name, loss=loss)
        done[0] += 1
        if done[0] % every == 0:
            rec.progress(done[0], total)

    return train_walk_model(walks, cfg["n_vertices"], cfg["n_ctx"], cfg["train_steps"], rng, cfg["device"],
                            cfg["batch"], cfg["lr"], cfg["d_model"], cfg["n_layers"], cfg["n_heads"], on_step,
                            None if snapshots is None else lambda _s, m: snapshots.append(wvwo_matrices(m)),
                            cfg["wvwo_every"] if snapshots is not None else 0)


def _evaluate(model: WalkTransformer, graph: DCSBM, walks: np.ndarray,
              cfg: dict[str, Any]) -> tuple[EventTable, float, Streamed]:
    st = stream_eval(model, walks, cfg["layer"], cfg["target"], cfg["side"], cfg["k"], cfg["svd_tier"],
                     cfg["device"], cfg["stream_block"], cfg["curve_dims"])
    logits = st.logits
    table = event_table(graph, walks, logits, st.drift, cfg["n_ctx"])
    # how often the argmax next vertex is a real out-neighbour of the current vertex
    last = torch.as_tensor(np.ascontiguousarray(windows(walks, cfg["n_ctx"])[:, :-1, -1]))
    pred = logits[:, :-1].argmax(-1)
    edge_ok = float(torch.as_tensor(graph.adj)[last, pred].float().mean())
    return table, edge_ok, st


def _log(rec: Recorder, rows: study.Rows) -> None:
    """Log the (step, fields) rows a study function returned, in its order."""
    for step, fields in rows:
        rec.log(step, **fields)


def drift_vs_violations(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """The experiment entry: _seeds, with the private working arrays (keys starting "_") dropped."""
    out = {k: v for k, v in _seeds(cfg, rec).items() if not k.startswith("_")}
    path = rec.out_dir / "report.html"
    path.write_text(_report(out, rec, cfg), encoding="utf-8")
    rec.artifact(path, "report")
    return out


REPORT_CHARTS = (
    {"title": "drift before the deadline (primary metric)", "x": "step", "y": ["drift_mean"],
     "where": {"stage": "drift"}, "series_by": "group", "xlabel": "lookback", "ylabel": "mean Grassmannian drift"},
    {"title": "primary-metric AUROC against the label-shuffle 95th percentile", "x": "step", "y": ["auroc"],
     "where": {"stage": "auroc"}, "series_by": "labels", "xlabel": "lookback", "ylabel": "AUROC"},
    {"title": "reliability of the calibrated drift score", "x": "predicted", "y": ["observed"],
     "where": {"stage": "reliability"}, "series_by": "kind"},
    {"title": "training loss", "x": "step", "y": ["loss"], "where": {"stage": "train"}, "series_by": "model"},
    {"title": "stable rank of the last layer's W_V W_O along training", "x": "step", "y": ["stable_rank"],
     "where": {"stage": "wvwo"}, "series_by": "model", "xlabel": "training step"},
)


def _report(out: dict[str, Any], rec: Recorder, cfg: dict[str, Any]) -> str:
    """The study's HTML page: verdicts, scalars, per-metric and per-seed tables, bound ratios, charts."""
    from engine.research.report import study_report

    tables = []
    if "auroc_by_metric" in out:
        r = cfg["horizon"]
        tables.append({"title": f"AUROC by metric and lookback (seed {cfg['seed']}; horizon: largest lookback "
                                f"with {cfg['correction']}-corrected p < {cfg['alpha']})",
                       "header": ["metric", *[f"lookback {i}" for i in range(r)], "horizon"],
                       "rows": [[k, *v, out["horizon_by_metric"][k]["horizon"]]
                                for k, v in out["auroc_by_metric"].items()]})
    if "horizon_by_metric_seeds" in out:
        tables.append({"title": f"seed-mean AUROC by lookback over seeds {out['seeds']} (multi-seed horizon)",
                       "header": ["metric", *[f"lookback {i}" for i in range(cfg["horizon"])], "horizon"],
                       "rows": [[k, *v["auroc_mean"], v["horizon"]]
                                for k, v in out["horizon_by_metric_seeds"].items()]})
        tables.append({"title": "primary metric: seed-mean AUROC with stratified BCa 95% interval",
                       "header": ["lookback", "AUROC", "CI low", "CI high", "corrected p", "shuffle p95"],
                       "rows": [[i, m, lo, hi, p, q] for i, (m, (lo, hi), p, q) in enumerate(zip(
                           out["auroc_by_lookback_seed_mean"], out["auroc_by_lookback_seed_mean_ci"],
                           out["p_adjusted_by_lookback_seeds"], out["null_p95_by_lookback_seeds"], strict=True))]})
        tables.append({"title": "per seed", "header": ["seed", "lookback-0 AUROC", "horizon", "supported"],
                       "rows": [list(x) for x in zip(out["seeds"], out["auroc_lookback0_by_seed"],
                                                     out["predictive_horizon_by_seed"], out["supported_by_seed"],
                                                     strict=True)]})
    if "bound_ratio_max_per_head" in out:
        tables.append({"title": "softmax bound on trained attention: observed / bound (docs/research/softmax-bound.md)",
                       "header": ["layer", "head", "max ratio", "median ratio"],
                       "rows": [[li, h, mx, md] for li, (row, mrow) in enumerate(zip(
                           out["bound_ratio_max_per_head"], out["bound_ratio_median_per_head"], strict=True))
                                for h, (mx, md) in enumerate(zip(row, mrow, strict=True))]})
    if "wvwo" in out:
        for model, vals in out["wvwo"].items():
            names = list(vals)
            tables.append({"title": f"W_V W_O spectra ({model} model), per layer and head",
                           "header": ["layer/head", *names],
                           "rows": [[f"{li}/{h}", *[vals[n][li][h] for n in names]]
                                    for li in range(len(vals[names[0]])) for h in range(len(vals[names[0]][li]))]})
    records = getattr(rec, "records", [])
    return study_report("dcsbm-drift: does attention drift before a rule violation?", out, records, REPORT_CHARTS,
                        getattr(rec, "notes", []), tables, verdict_keys=[k for k in ("verdict", "verdict_seeds")
                                                                         if k in out])


def _seeds(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """The first seed is the reported run; with n_seeds > 1 further seeds (their own graph, walks and
    models, artifacts under seed<i>/) are aggregated by study.aggregate_seeds / aggregate_metrics."""
    out = _single(cfg, rec)
    pools = [out.pop("_pool", None)]
    if cfg["n_seeds"] <= 1 or out["insufficient_events"]:
        return out
    per_seed = [out]
    for i in range(1, cfg["n_seeds"]):
        other = _single({**cfg, "seed": cfg["seed"] + i}, MemoryRecorder(rec.out_dir / f"seed{i}"))
        pools.append(other.pop("_pool", None))
        per_seed.append(other)
        rec.note(f"seed {cfg['seed'] + i}: {other['verdict']}")
    ok = [o for o in per_seed if not o["insufficient_events"]]
    if len(ok) < 2:
        out["verdict_seeds"] = f"NO MULTI-SEED VERDICT: only {len(ok)} of {len(per_seed)} seeds had enough events"
        rec.note(out["verdict_seeds"])
        return out
    out.update(study.aggregate_seeds(per_seed, pools, [cfg["seed"] + i for i in range(cfg["n_seeds"])],
                                     cfg["n_bootstrap"], cfg["seed"]))
    scored = [o for o in per_seed if "_metric_pool" in o]
    out.update(study.aggregate_metrics([o["_metric_pool"] for o in scored], [o["_labels"] for o in scored],
                                       f"{cfg['target']}.grassmannian_drift", cfg["horizon"], cfg["alpha"],
                                       cfg["correction"], cfg["n_bootstrap"], cfg["seed"]))
    out["drift_signal_beats_null"], out["verdict_seeds"] = study.seeds_verdict(out, len(ok), cfg["correction"],
                                                                                cfg["alpha"])
    rec.note(out["verdict_seeds"])
    rec.note(f"{len(ok)} seeds: mean lookback-0 AUROC {out['auroc_lookback0_seed_mean']:.3f}, BCa 95% CI "
             f"[{out['auroc_lookback0_seed_mean_ci'][0]:.3f}, {out['auroc_lookback0_seed_mean_ci'][1]:.3f}]; "
             f"supported in {sum(out['supported_by_seed'])} of {len(per_seed)}")
    return out


def _walks(cfg: dict[str, Any], rng: np.random.Generator,
           rec: Recorder) -> tuple[DCSBM, dict[str, np.ndarray]]:
    """The seed's graph and its four walk sets: rule-abiding and rule-free, for training and evaluation."""
    r, n_ctx = cfg["horizon"], cfg["n_ctx"]
    if not 1 <= r < n_ctx:
        raise ValueError(f"horizon {r} must be in [1, n_ctx={n_ctx})")
    graph = make_dcsbm(cfg["n_vertices"], cfg["n_blocks"], cfg["p_in"], cfg["p_out"], rng,
                       cfg["theta_sigma"], cfg["jumpers_per_block"], r)
    walks = {name: generate_walks(graph, cfg[f"{split}_walks"], cfg["walk_len"], rng, enforce=enforce)
             for name, split, enforce in (("rule", "train", True), ("null", "train", False),
                                          ("eval_rule", "eval", True), ("eval_null", "eval", False))}
    rec.note(f"graph: {graph.n} vertices, {graph.n_blocks} blocks, mean out-degree "
             f"{graph.adj.sum(1).mean():.1f}, {len(graph.jumpers)} jumpers, horizon {r}")
    return graph, walks


def _fit(graph: DCSBM, walks: dict[str, np.ndarray], cfg: dict[str, Any], rng: np.random.Generator,
         rec: Recorder) -> dict[str, Any]:
    """Train the experimental and null models, stream both over their held-out walks (event tables,
    per-window metrics) and keep W_V W_O snapshots along training."""
    total, done = 2 * cfg["train_steps"], [0]
    snaps: dict[str, list[torch.Tensor]] = {"experimental": [], "null": []}
    with single_thread():
        # fault no_rule_training: the "experimental" model never sees a rule-abiding walk
        exp_data = walks["null"] if cfg["fault"] == "no_rule_training" else walks["rule"]
        exp_model = _train("experimental", exp_data, cfg, rng, rec, done, total, snaps["experimental"])
        null_model = _train("null", walks["null"], cfg, rng, rec, done, total, snaps["null"])
        exp, edge_ok, exp_st = _evaluate(exp_model, graph, walks["eval_rule"], cfg)
        null, _, null_st = _evaluate(null_model, graph, walks["eval_null"], cfg)
        wvwo = {"experimental": wvwo_metrics(exp_model), "null": wvwo_metrics(null_model)}
    return {"exp_model": exp_model, "exp": exp, "null": null, "edge_ok": edge_ok, "exp_st": exp_st,
            "null_st": null_st, "wvwo": wvwo, "snaps": snaps}


def _counts(fit: dict[str, Any], labels: np.ndarray) -> dict[str, Any]:
    """Event counts and rule compliance of both models (guarded: there may be no events)."""
    exp, null, n_pos = fit["exp"], fit["null"], int(labels.sum())
    return {"n_events": len(labels), "n_violations": n_pos, "violation_rate": n_pos / max(len(labels), 1),
            "compliance_experimental": 1 - float(exp.violated.mean()) if len(labels) else float("nan"),
            "compliance_null_model": 1 - float(null.violated.mean()) if len(null.violated) else float("nan"),
            "edge_valid_rate": fit["edge_ok"]}


def _save_spectra(rec: Recorder, name: str, arrays: dict[str, np.ndarray]) -> None:
    path = rec.out_dir / name
    spectral.save_spectra(str(path), **arrays)
    rec.artifact(path, "spectra")


def _bound(model: WalkTransformer, eval_rule: np.ndarray, cfg: dict[str, Any]) -> dict[str, Any]:
    """The softmax perturbation bound on the trained experimental model: observed / bound per head."""
    win = torch.as_tensor(np.ascontiguousarray(windows(eval_rule, cfg["n_ctx"])[:, -1][: cfg["bound_windows"]]))
    with single_thread():
        bound = bound_ratios(model, win, cfg["bound_eps"], torch.Generator().manual_seed(cfg["seed"]))
    ratio = bound["ratio"]
    return {"bound_ratio_max_per_head": ratio.amax(-1).tolist(),             # [layer][head]
            "bound_ratio_median_per_head": ratio.median(-1).values.tolist(),
            "bound_violations": int((ratio > 1 + 1e-9).sum()),
            "bound_lip_local_median": float(bound["lip_local"].median())}


def _single(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """One seed: data, models, then the study's statistics in the order that fixes the rng stream."""
    rng = np.random.default_rng(cfg["seed"])
    graph, walks = _walks(cfg, rng, rec)
    fit = _fit(graph, walks, cfg, rng, rec)
    exp, null, exp_st, null_st = fit["exp"], fit["null"], fit["exp_st"], fit["null_st"]
    labels = exp.violated.copy()
    if cfg["fault"] == "shuffle_labels":
        labels = rng.permutation(labels)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos < cfg["min_class_events"] or n_neg < cfg["min_class_events"]:
        verdict = (f"NO VERDICT: too few events of one class to score drift ({n_pos} violations, {n_neg} compliant; "
                   f"need {cfg['min_class_events']} of each): raise eval_walks or train for fewer steps")
        rec.note(verdict)
        return {**_counts(fit, labels), "insufficient_events": True, "verdict": verdict}

    drift, rows = study.score_drift(exp, null, labels, cfg["n_shuffles"], cfg["n_bins"], rng)
    _log(rec, rows)
    lb0 = drift.pop("_lb0")
    out = {**_counts(fit, labels), "walk_compliance_null": rule_compliance(graph, walks["eval_null"]), **drift}
    metrics, pool, rows = study.metric_horizons(graph, walks["eval_rule"], exp_st, labels, cfg["n_ctx"],
                                                cfg["n_shuffles"], cfg["alpha"], cfg["correction"], rng)
    _log(rec, rows)
    out.update(metrics)
    out["predictive_horizon"] = metrics["horizon_by_metric"][f"{cfg['target']}.grassmannian_drift"]["horizon"]
    _save_spectra(rec, "spectra.npz", {f"{m}_{t}": st.spectra[t].numpy() for m, st in
                                       (("experimental", exp_st), ("null", null_st)) for t in TARGETS})
    out.update(study.spectral_curve_medians(exp_st.spectra[cfg["target"]], cfg["curve_walks"], cfg["curve_dims"]))
    out["auroc_lookback0_ci"] = list(auroc_ci(lb0, labels, cfg["n_bootstrap"], cfg["seed"]))
    out["wvwo"] = fit["wvwo"]
    wvwo, arrays, rows = study.wvwo_summary(fit["snaps"], cfg["k"], cfg["svd_tier"], cfg["wvwo_every"],
                                            cfg["curve_dims"])
    _log(rec, rows)
    _save_spectra(rec, "spectra_wvwo.npz", arrays)
    out.update(wvwo)
    out["metrics"] = out["metrics"] + out["metrics_wvwo"]
    out["n_metrics"] = len(out["metrics"])
    out.update(_bound(fit["exp_model"], walks["eval_rule"], cfg))
    out["insufficient_events"] = False
    out.update({"_metric_pool": pool, "_pool": (lb0.copy(), labels.copy()), "_labels": labels.copy()})
    out.update(study.null_model_stats(null, out, cfg["min_class_events"]))
    rec.note(out["verdict"])
    rec.note(f"{n_pos} violations in {len(labels)} events; best drift AUROC {out['auroc_best']:.3f} at lookback "
             f"{out['best_lookback']} (permutation p = {out['drift_p_value']:.3f}); positive control AUROC "
             f"{out['positive_control_auroc']:.3f}")
    return out
