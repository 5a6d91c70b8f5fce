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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.core.run import MemoryRecorder, Recorder
from engine.core.threads import torch_threads as single_thread
from engine.research.dcsbm import horizon as horizon_mod
from engine.research.dcsbm import spectral
from engine.research.dcsbm.bound_trained import bound_ratios
from engine.research.dcsbm.drift import EventTable, event_table
from engine.research.dcsbm.graph import DCSBM, make_dcsbm
from engine.research.dcsbm.horizon import auroc_ci, permutation_p, predictive_horizon, seed_mean_auroc_ci
from engine.research.dcsbm.metrics import (
    auroc,
    auroc_pair_count,
    average_ranks,
    fit_logistic,
    pr_curve,
    predict_logistic,
    reliability,
)
from engine.research.dcsbm.model import WalkTransformer
from engine.research.dcsbm.stream import TARGETS, Streamed, stream_eval, wvwo_matrices, wvwo_metrics, wvwo_trajectory
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


def _shuffle_null(scores: np.ndarray, labels: np.ndarray, n_shuffles: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """AUROC of every score column under n_shuffles label permutations: (n_shuffles, n_cols).

    Ranks do not move when labels are shuffled, so each column is ranked once and a permutation's
    AUROCs are one matrix product of its label vector with the rank matrix.
    """
    ranks = np.stack([average_ranks(scores[:, c]) for c in range(scores.shape[1])], axis=1)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    perms = np.stack([rng.permutation(labels) for _ in range(n_shuffles)]).astype(np.float64)
    u = perms @ ranks - n_pos * (n_pos + 1) / 2
    observed = (labels.astype(np.float64) @ ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return u / (n_pos * n_neg), observed


def _nine_metrics(graph: DCSBM, eval_rule: np.ndarray, eval_null: np.ndarray, exp_st: Streamed, null_st: Streamed,
                  labels: np.ndarray, cfg: dict[str, Any], rng: np.random.Generator, rec: Recorder) -> dict[str, Any]:
    """AUROC per metric, target and lookback (best head), one-sided shuffle p, BH horizon; spectra saved."""
    r, n_ctx = cfg["horizon"], cfg["n_ctx"]
    out: dict[str, Any] = {"metrics": [], "auroc_by_metric": {}, "horizon_by_metric": {}}
    pool: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for target in TARGETS:
        for name in (*spectral.METRICS, *spectral.CURVE_METRICS):
            vals = exp_st.metrics[target][name]
            if not torch.isfinite(vals[:, 1:]).any():
                continue                                   # e.g. read/write alignment of a non-square AVW_O
            table = event_table(graph, eval_rule, exp_st.logits, vals.to(torch.float64), n_ctx)
            heads = table.drift.shape[2]
            flat = np.nan_to_num(table.drift.reshape(len(labels), -1), nan=0.0)
            shuffled, observed = _shuffle_null(flat, labels, cfg["n_shuffles"], rng)
            per_lb = observed.reshape(r, heads).max(1)
            null_lb = shuffled.reshape(-1, r, heads).max(2)
            p = permutation_p(per_lb, null_lb)
            lb, p_bh = predictive_horizon(p, cfg["alpha"], cfg["correction"])
            key = f"{target}.{name}"
            pool[key] = (per_lb, null_lb, table.drift)
            out["metrics"].append(key)
            out["auroc_by_metric"][key] = [float(x) for x in per_lb]
            out["horizon_by_metric"][key] = {"horizon": lb, "p_bh": [float(x) for x in p_bh]}
            for i in range(r):
                rec.log(i, stage="metric_auroc", metric=key, auroc=float(per_lb[i]), p_bh=float(p_bh[i]))
    out["_metric_pool"] = pool
    out["n_metrics"] = len(out["metrics"])
    primary = out["horizon_by_metric"][f"{cfg['target']}.grassmannian_drift"]
    out["predictive_horizon"] = primary["horizon"]
    path = rec.out_dir / "spectra.npz"
    spectral.save_spectra(str(path), **{f"{m}_{t}": st.spectra[t].numpy() for m, st in
                                        (("experimental", exp_st), ("null", null_st)) for t in TARGETS})
    rec.artifact(path, "spectra")
    kappa, tau = [], []
    for w in range(min(len(exp_st.spectra[cfg["target"]]), cfg["curve_walks"])):
        curve = exp_st.spectra[cfg["target"]][w, :, 0, : cfg["curve_dims"]].numpy()
        k_, t_ = spectral.curvature_torsion(curve)
        kappa.append(np.nanmedian(k_))
        tau.append(np.nanmedian(t_))
    out["spectral_curvature_median"] = float(np.nanmedian(kappa))
    out["spectral_torsion_median"] = float(np.nanmedian(tau))
    return out


def _wvwo_trajectory(snaps: dict[str, list[torch.Tensor]], cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """The nine metrics of each head's W_V W_O along training (checkpoints every wvwo_every steps)."""
    out: dict[str, Any] = {"metrics_wvwo": [f"wvwo.{m}" for m in spectral.METRICS], "wvwo_trajectory": {}}
    arrays = {}
    for model, mats in snaps.items():
        values, s = wvwo_trajectory(mats, cfg["k"], cfg["svd_tier"])               # (L, H, n_ckpt)
        arrays[f"{model}_wvwo"] = s.numpy()
        final = {m: [[float(x) for x in row] for row in v[..., -1]] for m, v in values.items()}
        final["grassmannian_drift_mean"] = [[float(x) for x in row] for row in values["grassmannian_drift"][..., 1:]
                                            .mean(-1)]
        kt = [[spectral.curvature_torsion(s[li, h, :, : cfg["curve_dims"]].numpy()) for h in range(s.shape[1])]
              for li in range(s.shape[0])]
        final["curvature_median"] = [[float(np.nanmedian(k)) for k, _ in row] for row in kt]
        final["torsion_median"] = [[float(np.nanmedian(t)) for _, t in row] for row in kt]
        out["wvwo_trajectory"][model] = final
        for step in range(values["stable_rank"].shape[-1]):
            rec.log(step * cfg["wvwo_every"], stage="wvwo", model=model,
                    **{m: float(torch.nan_to_num(v[-1, 0, step])) for m, v in values.items()})
    out["wvwo_checkpoints"] = len(snaps["experimental"])
    path = rec.out_dir / "spectra_wvwo.npz"
    spectral.save_spectra(str(path), **arrays)
    rec.artifact(path, "spectra")
    return out


def _verdict(out: dict[str, Any]) -> str:
    """One line that says whether drift predicted violations here, with the null comparisons that decide it."""
    beats, more = out["drift_beats_shuffle"], out["null_drifts_more"]
    head = "SUPPORTED" if beats and not more else "NOT SUPPORTED"
    parts = [f"best lookback {out['best_lookback']} AUROC {out['auroc_best']:.3f} "
             f"{'beats' if beats else 'does NOT beat'} its label-shuffle null "
             f"(two-sided p {out['drift_p_value']:.3f}, 95th-pct deviation {out['shuffle_p95_deviation']:.3f})"]
    parts.append(f"null model drift {out['drift_mean_null']:.3f} "
                 f"{'>' if more else '<='} experimental drift before violations {out['drift_mean_violation']:.3f}"
                 + (" (the rule-free model drifts MORE: drift is not specific to rule pressure)" if more else ""))
    return f"{head}: " + "; ".join(parts) + f". {beats_null_line(beats and not more)}"


def beats_null_line(yes: bool) -> str:
    return f"drift signal beats null: {'yes' if yes else 'no'}"


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
    models, artifacts under seed<i>/) are aggregated: per-seed AUROCs, horizons and verdicts, and a BCa
    interval of the mean per-seed lookback-0 AUROC over the pooled events (seed kept as a label)."""
    out = _single(cfg, rec)
    pools = [out.pop("_pool", None)]
    if cfg["n_seeds"] <= 1 or out["insufficient_events"]:
        return out
    per_seed = [out]
    for i in range(1, cfg["n_seeds"]):
        sub = MemoryRecorder(rec.out_dir / f"seed{i}")
        other = _single({**cfg, "seed": cfg["seed"] + i}, sub)
        pools.append(other.pop("_pool", None))
        per_seed.append(other)
        rec.note(f"seed {cfg['seed'] + i}: {other['verdict']}")
    ok = [o for o in per_seed if not o["insufficient_events"]]
    if len(ok) < 2:
        out["verdict_seeds"] = f"NO MULTI-SEED VERDICT: only {len(ok)} of {len(per_seed)} seeds had enough events"
        rec.note(out["verdict_seeds"])
        for o in per_seed:
            o.pop("_metric_pool", None)
        return out
    out["seeds"] = [cfg["seed"] + i for i in range(cfg["n_seeds"])]
    out["auroc_lookback0_by_seed"] = [o.get("auroc_lookback0") for o in per_seed]
    out["predictive_horizon_by_seed"] = [o.get("predictive_horizon") for o in per_seed]
    out["supported_by_seed"] = [o["verdict"].startswith("SUPPORTED") for o in per_seed]
    out["auroc_lookback0_seed_mean"] = float(np.mean([o["auroc_lookback0"] for o in ok]))
    valid = [p for p in pools if p is not None]
    score = np.concatenate([p[0] for p in valid])
    labels = np.concatenate([p[1] for p in valid])
    seed_id = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(valid)])
    out["auroc_lookback0_seed_mean_ci"] = list(seed_mean_auroc_ci(score, labels, seed_id, cfg["n_bootstrap"],
                                                                  cfg["seed"]))
    out.update(_aggregate_metrics([o for o in per_seed if "_metric_pool" in o], cfg))
    more = float(np.mean([o["drift_mean_null"] for o in ok])) > float(np.mean([o["drift_mean_violation"] for o in ok]))
    out["null_drifts_more_seed_mean"] = more
    out["drift_signal_beats_null"] = bool(out["predictive_horizon_seeds"] >= 0 and not more)
    out["verdict_seeds"] = (f"{len(ok)} seeds: predictive horizon {out['predictive_horizon_seeds']} "
                            f"({cfg['correction']}-corrected, alpha {cfg['alpha']}); seed-mean null-model drift "
                            f"{'>' if more else '<='} experimental drift before violations. "
                            f"{beats_null_line(out['drift_signal_beats_null'])}")
    rec.note(out["verdict_seeds"])
    rec.note(f"{len(ok)} seeds: mean lookback-0 AUROC {out['auroc_lookback0_seed_mean']:.3f}, BCa 95% CI "
             f"[{out['auroc_lookback0_seed_mean_ci'][0]:.3f}, {out['auroc_lookback0_seed_mean_ci'][1]:.3f}]; "
             f"supported in {sum(out['supported_by_seed'])} of {len(per_seed)}")
    return out


def _aggregate_metrics(per_seed: list[dict[str, Any]], cfg: dict[str, Any]) -> dict[str, Any]:
    """Per metric: the seed-mean AUROC per lookback against the seed-mean shuffle null, corrected over
    lookbacks (the multi-seed horizon); for the primary metric also a BCa interval per lookback."""
    pools = [o.pop("_metric_pool") for o in per_seed]
    keys = [k for k in pools[0] if all(k in p for p in pools)]
    by_metric = {k: horizon_mod.aggregate_horizon([p[k][0] for p in pools], [p[k][1] for p in pools],
                                                  cfg["alpha"], cfg["correction"]) for k in keys}
    primary = f"{cfg['target']}.grassmannian_drift"
    tables = [p[primary][2] for p in pools]                      # (E_s, r, H) per seed
    seed_id = np.concatenate([np.full(len(t), i) for i, t in enumerate(tables)])
    labels = np.concatenate([o["_labels"] for o in per_seed])
    cis = []
    for lb in range(cfg["horizon"]):
        score = np.nan_to_num(np.concatenate([t[:, lb, :] for t in tables]), nan=0.0)
        cis.append(list(seed_mean_auroc_ci(score, labels, seed_id, cfg["n_bootstrap"], cfg["seed"] + lb)))
    agg = by_metric[primary]
    return {"horizon_by_metric_seeds": {k: {"horizon": v["horizon"], "auroc_mean": v["auroc_mean"],
                                            "p_adjusted": v["p_adjusted"]} for k, v in by_metric.items()},
            "predictive_horizon_seeds": agg["horizon"], "auroc_by_lookback_seed_mean": agg["auroc_mean"],
            "auroc_by_lookback_seed_mean_ci": cis, "p_adjusted_by_lookback_seeds": agg["p_adjusted"],
            "null_p95_by_lookback_seeds": agg["null_p95"],
            "metrics_with_horizon_seeds": sorted(k for k, v in by_metric.items() if v["horizon"] >= 0)}


def _single(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    rng = np.random.default_rng(cfg["seed"])
    r, n_ctx = cfg["horizon"], cfg["n_ctx"]
    if not 1 <= r < n_ctx:
        raise ValueError(f"horizon {r} must be in [1, n_ctx={n_ctx})")
    graph = make_dcsbm(cfg["n_vertices"], cfg["n_blocks"], cfg["p_in"], cfg["p_out"], rng,
                       cfg["theta_sigma"], cfg["jumpers_per_block"], r)
    rule_walks = generate_walks(graph, cfg["train_walks"], cfg["walk_len"], rng, enforce=True)
    null_walks = generate_walks(graph, cfg["train_walks"], cfg["walk_len"], rng, enforce=False)
    eval_rule = generate_walks(graph, cfg["eval_walks"], cfg["walk_len"], rng, enforce=True)
    eval_null = generate_walks(graph, cfg["eval_walks"], cfg["walk_len"], rng, enforce=False)
    rec.note(f"graph: {graph.n} vertices, {graph.n_blocks} blocks, mean out-degree "
             f"{graph.adj.sum(1).mean():.1f}, {len(graph.jumpers)} jumpers, horizon {r}")

    total = 2 * cfg["train_steps"]
    done = [0]
    with single_thread():
        # fault no_rule_training: the "experimental" model never sees a rule-abiding walk
        exp_data = null_walks if cfg["fault"] == "no_rule_training" else rule_walks
        snaps: dict[str, list[torch.Tensor]] = {"experimental": [], "null": []}
        exp_model = _train("experimental", exp_data, cfg, rng, rec, done, total, snaps["experimental"])
        null_model = _train("null", null_walks, cfg, rng, rec, done, total, snaps["null"])
        exp, edge_ok, exp_st = _evaluate(exp_model, graph, eval_rule, cfg)
        null, _, null_st = _evaluate(null_model, graph, eval_null, cfg)
        wvwo = {"experimental": wvwo_metrics(exp_model), "null": wvwo_metrics(null_model)}

    labels = exp.violated.copy()
    if cfg["fault"] == "shuffle_labels":
        labels = rng.permutation(labels)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    base = {"n_events": len(labels), "n_violations": n_pos, "violation_rate": n_pos / max(len(labels), 1),
            "compliance_experimental": 1 - float(exp.violated.mean()) if len(labels) else float("nan"),
            "compliance_null_model": 1 - float(null.violated.mean()) if len(null.violated) else float("nan"),
            "edge_valid_rate": edge_ok}
    if n_pos < cfg["min_class_events"] or n_neg < cfg["min_class_events"]:
        verdict = (f"NO VERDICT: too few events of one class to score drift ({n_pos} violations, {n_neg} compliant; "
                   f"need {cfg['min_class_events']} of each): raise eval_walks or train for fewer steps")
        rec.note(verdict)
        return {**base, "insufficient_events": True, "verdict": verdict}

    heads = exp.drift.shape[2]
    flat = exp.drift.reshape(len(labels), -1)                   # column = lookback * heads + head
    shuffled, observed = _shuffle_null(flat, labels, cfg["n_shuffles"], rng)
    dev_null = np.abs(shuffled - 0.5).max(axis=1)               # best |AUROC - 0.5| over lookbacks and heads
    best = int(np.abs(observed - 0.5).argmax())
    best_lookback, best_head = divmod(best, heads)
    p_value = float((1 + (dev_null >= abs(observed[best] - 0.5)).sum()) / (1 + len(dev_null)))

    for lb in range(r):
        cols = slice(lb * heads, (lb + 1) * heads)
        for group, d in (("violation", exp.drift[labels, lb]), ("compliant", exp.drift[~labels, lb]),
                         ("null", null.drift[:, lb])):
            rec.log(lb, stage="drift", group=group, drift_mean=float(d.mean()))
        rec.log(lb, stage="auroc", labels="true", auroc=float(observed[cols].max()))
        rec.log(lb, stage="auroc", labels="shuffle_p95", auroc=float(np.percentile(shuffled[:, cols].max(1), 95)))

    score = exp.drift[:, best_lookback, best_head]
    direct = auroc(score[labels], score[~labels])
    pair = auroc_pair_count(score[labels], score[~labels])
    tied_pos, tied_neg = np.round(score[labels], 1), np.round(score[~labels], 1)  # rounded: many ties
    tie_err = abs(auroc(tied_pos, tied_neg) - auroc_pair_count(tied_pos, tied_neg))
    positive = auroc(1 - exp.p_target[labels], 1 - exp.p_target[~labels])
    precision, recall, ap = pr_curve(score, labels)
    for i in np.linspace(0, len(recall) - 1, min(len(recall), 60)).astype(int):
        rec.log(int(i), stage="pr", recall=float(recall[i]), precision=float(precision[i]))
    fit, hold = np.arange(len(labels)) % 2 == 0, np.arange(len(labels)) % 2 == 1
    a, b = fit_logistic(score[fit], labels[fit].astype(np.float64))
    bins, ece = reliability(predict_logistic(score[hold], a, b), labels[hold].astype(np.float64), cfg["n_bins"],
                            equal_mass=True)
    for row in bins:
        rec.log(row["bin"], stage="reliability", kind="drift_logistic", predicted=row["predicted"],
                observed=row["observed"], count=row["count"])
        rec.log(row["bin"], stage="reliability", kind="perfect", predicted=row["predicted"],
                observed=row["predicted"])

    lb0 = exp.drift[:, 0, best_head]
    # the pre-registered statistic: drift in the deadline window, seed's direction (higher before a violation)
    lb0_obs, lb0_null = observed[:heads].max(), shuffled[:, :heads].max(axis=1)
    p_lb0 = float((1 + (lb0_null >= lb0_obs).sum()) / (1 + len(lb0_null)))
    out = {
        "n_events": len(labels), "n_violations": n_pos, "violation_rate": n_pos / len(labels),
        "compliance_experimental": 1 - float(exp.violated.mean()),
        "compliance_null_model": 1 - float(null.violated.mean()),
        "walk_compliance_null": rule_compliance(graph, eval_null),
        "edge_valid_rate": edge_ok,
        "auroc_lookback0": auroc(lb0[labels], lb0[~labels]),
        "p_lookback0": p_lb0,
        "auroc_lookback0_per_head": [float(x) for x in observed[:heads]],
        "auroc_best": float(observed[best]), "best_lookback": best_lookback, "best_head": best_head,
        "deviation_best": float(abs(observed[best] - 0.5)),
        "shuffle_p95_deviation": float(np.percentile(dev_null, 95)),
        "drift_p_value": p_value,
        "drift_beats_shuffle": bool(abs(observed[best] - 0.5) > np.percentile(dev_null, 95)),
        "shuffle_mean_auroc": float(shuffled.mean()),
        "auroc_rank_vs_pairs_err": abs(direct - pair),
        "auroc_rank_vs_pairs_err_ties": tie_err,
        "positive_control_auroc": positive,
        "average_precision": ap, "base_rate": n_pos / len(labels), "ece": ece,
        "drift_mean_violation": float(exp.drift[labels, best_lookback, best_head].mean()),
        "drift_mean_compliant": float(exp.drift[~labels, best_lookback, best_head].mean()),
        "drift_mean_null": float(null.drift[:, best_lookback, best_head].mean()),
        "auroc_experimental_vs_null": auroc(exp.drift[:, best_lookback, best_head],
                                            null.drift[:, best_lookback, best_head]),
    }
    out.update(_nine_metrics(graph, eval_rule, eval_null, exp_st, null_st, labels, cfg, rng, rec))
    out["auroc_lookback0_ci"] = list(auroc_ci(lb0, labels, cfg["n_bootstrap"], cfg["seed"]))
    out["wvwo"] = wvwo
    out.update(_wvwo_trajectory(snaps, cfg, rec))
    out["metrics"] = out["metrics"] + out["metrics_wvwo"]
    out["n_metrics"] = len(out["metrics"])
    win = torch.as_tensor(np.ascontiguousarray(windows(eval_rule, n_ctx)[:, -1][: cfg["bound_windows"]]))
    with single_thread():
        bound = bound_ratios(exp_model, win, cfg["bound_eps"], torch.Generator().manual_seed(cfg["seed"]))
    ratio = bound["ratio"]
    out["bound_ratio_max_per_head"] = ratio.amax(-1).tolist()             # [layer][head]
    out["bound_ratio_median_per_head"] = ratio.median(-1).values.tolist()
    out["bound_violations"] = int((ratio > 1 + 1e-9).sum())
    out["bound_lip_local_median"] = float(bound["lip_local"].median())
    out["insufficient_events"] = False
    out["_pool"] = (lb0.copy(), labels.copy())
    out["_labels"] = labels.copy()
    null_lb0 = null.drift[:, 0, :].max(axis=1)
    nv = null.violated
    enough = nv.sum() >= cfg["min_class_events"] and (~nv).sum() >= cfg["min_class_events"]
    out["null_model_auroc_lookback0"] = auroc(null_lb0[nv], null_lb0[~nv]) if enough else None
    out["null_model_n_violations"] = int(nv.sum())
    out["null_drifts_more"] = bool(out["drift_mean_null"] > out["drift_mean_violation"])
    out["drift_signal_beats_null"] = bool(out["drift_beats_shuffle"] and not out["null_drifts_more"])
    out["verdict"] = _verdict(out)
    rec.note(out["verdict"])
    rec.note(f"{n_pos} violations in {len(labels)} events; best drift AUROC {out['auroc_best']:.3f} at lookback "
             f"{best_lookback} (permutation p = {p_value:.3f}); positive control AUROC {positive:.3f}")
    return out
