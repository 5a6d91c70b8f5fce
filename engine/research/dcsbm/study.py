"""The statistics of the dcsbm-drift study, on event tables the lab has built (drift.py) from trained models.

    score_drift       drift at lookback 0..r-1 vs the violation labels: AUROC per lookback/head, the
                      label-permutation null (two-sided max over lookbacks and one-sided lookback 0), the
                      positive control, PR curve, logistic calibration and its reliability bins
    metric_horizons   the same AUROC/null for every SVD metric of every target, BH/Holm-corrected
                      over lookbacks: the predictive horizon per metric
    wvwo_summary      W_V W_O's metrics along training, and Frenet curvature/torsion of its spectral curve
    null_model_stats  the rule-free model at matched positions, the verdict line
    aggregate_seeds   several seeds: per-seed figures, seed-mean horizon per metric, BCa intervals

Each returns plain values and the rows the lab logs (`(step, fields)` pairs), so the lab only logs them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.research.dcsbm import horizon as horizon_mod
from engine.research.dcsbm import spectral
from engine.research.dcsbm.drift import EventTable, event_table
from engine.research.dcsbm.graph import DCSBM
from engine.research.dcsbm.horizon import permutation_p, predictive_horizon, seed_mean_auroc_ci
from engine.research.dcsbm.metrics import (
    auroc,
    auroc_pair_count,
    average_ranks,
    fit_logistic,
    pr_curve,
    predict_logistic,
    reliability,
)
from engine.research.dcsbm.stream import TARGETS, Streamed, wvwo_trajectory

Rows = list[tuple[int, dict[str, Any]]]


def shuffle_null(scores: np.ndarray, labels: np.ndarray, n_shuffles: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """AUROC of every score column under n_shuffles label permutations: (n_shuffles, n_cols), and observed.

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


def _shuffle_rows(exp: EventTable, null: EventTable, labels: np.ndarray, observed: np.ndarray,
                  shuffled: np.ndarray) -> Rows:
    heads, rows = exp.drift.shape[2], []
    for lb in range(exp.drift.shape[1]):
        cols = slice(lb * heads, (lb + 1) * heads)
        for group, d in (("violation", exp.drift[labels, lb]), ("compliant", exp.drift[~labels, lb]),
                         ("null", null.drift[:, lb])):
            rows.append((lb, {"stage": "drift", "group": group, "drift_mean": float(d.mean())}))
        rows.append((lb, {"stage": "auroc", "labels": "true", "auroc": float(observed[cols].max())}))
        rows.append((lb, {"stage": "auroc", "labels": "shuffle_p95",
                          "auroc": float(np.percentile(shuffled[:, cols].max(1), 95))}))
    return rows


def _calibration(score: np.ndarray, labels: np.ndarray, n_bins: int) -> tuple[dict[str, Any], Rows]:
    """PR curve and a logistic calibration fitted on even events, judged on odd ones (reliability, ECE)."""
    rows: Rows = []
    precision, recall, ap = pr_curve(score, labels)
    for i in np.linspace(0, len(recall) - 1, min(len(recall), 60)).astype(int):
        rows.append((int(i), {"stage": "pr", "recall": float(recall[i]), "precision": float(precision[i])}))
    fit, hold = np.arange(len(labels)) % 2 == 0, np.arange(len(labels)) % 2 == 1
    a, b = fit_logistic(score[fit], labels[fit].astype(np.float64))
    bins, ece = reliability(predict_logistic(score[hold], a, b), labels[hold].astype(np.float64), n_bins,
                            equal_mass=True)
    for row in bins:
        rows.append((int(row["bin"]), {"stage": "reliability", "kind": "drift_logistic", "predicted": row["predicted"],
                                  "observed": row["observed"], "count": row["count"]}))
        rows.append((int(row["bin"]), {"stage": "reliability", "kind": "perfect", "predicted": row["predicted"],
                                  "observed": row["predicted"]}))
    return {"average_precision": ap, "ece": ece}, rows


def score_drift(exp: EventTable, null: EventTable, labels: np.ndarray, n_shuffles: int, n_bins: int,
                rng: np.random.Generator) -> tuple[dict[str, Any], Rows]:
    """The primary drift statistics (see the module doc); labels may be the fault's shuffled ones."""
    n_pos, heads = int(labels.sum()), exp.drift.shape[2]
    flat = exp.drift.reshape(len(labels), -1)                   # column = lookback * heads + head
    shuffled, observed = shuffle_null(flat, labels, n_shuffles, rng)
    dev_null = np.abs(shuffled - 0.5).max(axis=1)               # best |AUROC - 0.5| over lookbacks and heads
    best = int(np.abs(observed - 0.5).argmax())
    best_lookback, best_head = divmod(best, heads)
    p_value = float((1 + (dev_null >= abs(observed[best] - 0.5)).sum()) / (1 + len(dev_null)))
    rows = _shuffle_rows(exp, null, labels, observed, shuffled)
    score = exp.drift[:, best_lookback, best_head]
    direct = auroc(score[labels], score[~labels])
    pair = auroc_pair_count(score[labels], score[~labels])
    tied_pos, tied_neg = np.round(score[labels], 1), np.round(score[~labels], 1)  # rounded: many ties
    tie_err = abs(auroc(tied_pos, tied_neg) - auroc_pair_count(tied_pos, tied_neg))
    calib, calib_rows = _calibration(score, labels, n_bins)
    rows += calib_rows
    lb0 = exp.drift[:, 0, best_head]
    # the pre-registered statistic: drift in the deadline window, seed's direction (higher before a violation)
    lb0_obs, lb0_null = observed[:heads].max(), shuffled[:, :heads].max(axis=1)
    out = {
        "auroc_lookback0": auroc(lb0[labels], lb0[~labels]),
        "p_lookback0": float((1 + (lb0_null >= lb0_obs).sum()) / (1 + len(lb0_null))),
        "auroc_lookback0_per_head": [float(x) for x in observed[:heads]],
        "auroc_best": float(observed[best]), "best_lookback": best_lookback, "best_head": best_head,
        "deviation_best": float(abs(observed[best] - 0.5)),
        "shuffle_p95_deviation": float(np.percentile(dev_null, 95)),
        "drift_p_value": p_value,
        "drift_beats_shuffle": bool(abs(observed[best] - 0.5) > np.percentile(dev_null, 95)),
        "shuffle_mean_auroc": float(shuffled.mean()),
        "auroc_rank_vs_pairs_err": abs(direct - pair),
        "auroc_rank_vs_pairs_err_ties": tie_err,
        "positive_control_auroc": auroc(1 - exp.p_target[labels], 1 - exp.p_target[~labels]),
        **calib, "base_rate": n_pos / len(labels),
        "drift_mean_violation": float(exp.drift[labels, best_lookback, best_head].mean()),
        "drift_mean_compliant": float(exp.drift[~labels, best_lookback, best_head].mean()),
        "drift_mean_null": float(null.drift[:, best_lookback, best_head].mean()),
        "auroc_experimental_vs_null": auroc(exp.drift[:, best_lookback, best_head],
                                            null.drift[:, best_lookback, best_head]),
        "_lb0": lb0,
    }
    return out, rows


def metric_horizons(graph: DCSBM, walks: np.ndarray, st: Streamed, labels: np.ndarray, n_ctx: int,
                    n_shuffles: int, alpha: float, correction: str,
                    rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any], Rows]:
    """AUROC per metric, target and lookback (best head), one-sided shuffle p, corrected horizon.

    Returns (results, pool for the multi-seed aggregation, rows to log)."""
    r = graph.horizon
    out: dict[str, Any] = {"metrics": [], "auroc_by_metric": {}, "horizon_by_metric": {}}
    pool: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    rows: Rows = []
    for target in TARGETS:
        for name in (*spectral.METRICS, *spectral.CURVE_METRICS):
            vals = st.metrics[target][name]
            if not torch.isfinite(vals[:, 1:]).any():
                continue                                   # e.g. read/write alignment of a non-square AVW_O
            table = event_table(graph, walks, st.logits, vals.to(torch.float64), n_ctx)
            heads = table.drift.shape[2]
            flat = np.nan_to_num(table.drift.reshape(len(labels), -1), nan=0.0)
            shuffled, observed = shuffle_null(flat, labels, n_shuffles, rng)
            per_lb = observed.reshape(r, heads).max(1)
            null_lb = shuffled.reshape(-1, r, heads).max(2)
            lb, p_bh = predictive_horizon(permutation_p(per_lb, null_lb), alpha, correction)
            key = f"{target}.{name}"
            pool[key] = (per_lb, null_lb, table.drift)
            out["metrics"].append(key)
            out["auroc_by_metric"][key] = [float(x) for x in per_lb]
            out["horizon_by_metric"][key] = {"horizon": lb, "p_bh": [float(x) for x in p_bh]}
            rows += [(i, {"stage": "metric_auroc", "metric": key, "auroc": float(per_lb[i]), "p_bh": float(p_bh[i])})
                     for i in range(r)]
    out["n_metrics"] = len(out["metrics"])
    return out, pool, rows


def spectral_curve_medians(spectra: torch.Tensor, n_walks: int, dims: int) -> dict[str, float]:
    """Median Frenet curvature and torsion of head 0's top-`dims` singular-value curve over the first walks."""
    kappa, tau = [], []
    for w in range(min(len(spectra), n_walks)):
        k_, t_ = spectral.curvature_torsion(spectra[w, :, 0, :dims].numpy())
        kappa.append(np.nanmedian(k_))
        tau.append(np.nanmedian(t_))
    return {"spectral_curvature_median": float(np.nanmedian(kappa)),
            "spectral_torsion_median": float(np.nanmedian(tau))}


def wvwo_summary(snaps: dict[str, list[torch.Tensor]], k: int, tier: str, every: int,
                 dims: int) -> tuple[dict[str, Any], dict[str, np.ndarray], Rows]:
    """The nine metrics of each head's W_V W_O along training (a checkpoint every `every` steps):
    (results, spectra arrays to save, rows to log)."""
    out: dict[str, Any] = {"metrics_wvwo": [f"wvwo.{m}" for m in spectral.METRICS], "wvwo_trajectory": {}}
    arrays, rows = {}, []
    for model, mats in snaps.items():
        values, s = wvwo_trajectory(mats, k, tier)                                   # (L, H, n_ckpt)
        arrays[f"{model}_wvwo"] = s.numpy()
        final = {m: [[float(x) for x in row] for row in v[..., -1]] for m, v in values.items()}
        final["grassmannian_drift_mean"] = [[float(x) for x in row] for row in values["grassmannian_drift"][..., 1:]
                                            .mean(-1)]
        kt = [[spectral.curvature_torsion(s[li, h, :, :dims].numpy()) for h in range(s.shape[1])]
              for li in range(s.shape[0])]
        final["curvature_median"] = [[float(np.nanmedian(c)) for c, _ in row] for row in kt]
        final["torsion_median"] = [[float(np.nanmedian(t)) for _, t in row] for row in kt]
        out["wvwo_trajectory"][model] = final
        rows += [(step * every, {"stage": "wvwo", "model": model,
                                 **{m: float(torch.nan_to_num(v[-1, 0, step])) for m, v in values.items()}})
                 for step in range(values["stable_rank"].shape[-1])]
    out["wvwo_checkpoints"] = len(snaps["experimental"])
    return out, arrays, rows


def beats_null_line(yes: bool) -> str:
    return f"drift signal beats null: {'yes' if yes else 'no'}"


def verdict(out: dict[str, Any]) -> str:
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


def null_model_stats(null: EventTable, out: dict[str, Any], min_class_events: int) -> dict[str, Any]:
    """The rule-free model's own drift-vs-violation AUROC (when it has events of both classes), whether it
    drifts more than the experimental model before violations, and the verdict that follows."""
    null_lb0 = null.drift[:, 0, :].max(axis=1)
    nv = null.violated
    enough = nv.sum() >= min_class_events and (~nv).sum() >= min_class_events
    res: dict[str, Any] = {"null_model_auroc_lookback0": auroc(null_lb0[nv], null_lb0[~nv]) if enough else None,
                           "null_model_n_violations": int(nv.sum()),
                           "null_drifts_more": bool(out["drift_mean_null"] > out["drift_mean_violation"])}
    res["drift_signal_beats_null"] = bool(out["drift_beats_shuffle"] and not res["null_drifts_more"])
    res["verdict"] = verdict({**out, **res})
    return res


def aggregate_metrics(pools: list[dict[str, Any]], labels: list[np.ndarray], primary: str, r: int,
                      alpha: float, correction: str, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """Per metric: the seed-mean AUROC per lookback against the seed-mean shuffle null, corrected over
    lookbacks (the multi-seed horizon); for the primary metric also a BCa interval per lookback."""
    keys = [k for k in pools[0] if all(k in p for p in pools)]
    by_metric: dict[str, dict[str, Any]] = {
        k: horizon_mod.aggregate_horizon([p[k][0] for p in pools], [p[k][1] for p in pools], alpha, correction)
        for k in keys}
    tables = [p[primary][2] for p in pools]                      # (E_s, r, H) per seed
    seed_id = np.concatenate([np.full(len(t), i) for i, t in enumerate(tables)])
    lab = np.concatenate(labels)
    cis = []
    for lb in range(r):
        score = np.nan_to_num(np.concatenate([t[:, lb, :] for t in tables]), nan=0.0)
        cis.append(list(seed_mean_auroc_ci(score, lab, seed_id, n_bootstrap, seed + lb)))
    agg = by_metric[primary]
    return {"horizon_by_metric_seeds": {k: {"horizon": v["horizon"], "auroc_mean": v["auroc_mean"],
                                            "p_adjusted": v["p_adjusted"]} for k, v in by_metric.items()},
            "predictive_horizon_seeds": agg["horizon"], "auroc_by_lookback_seed_mean": agg["auroc_mean"],
            "auroc_by_lookback_seed_mean_ci": cis, "p_adjusted_by_lookback_seeds": agg["p_adjusted"],
            "null_p95_by_lookback_seeds": agg["null_p95"],
            "metrics_with_horizon_seeds": sorted(k for k, v in by_metric.items() if v["horizon"] >= 0)}


def aggregate_seeds(per_seed: list[dict[str, Any]], pools: list[tuple[np.ndarray, np.ndarray] | None],
                    seeds: list[int], n_bootstrap: int, seed: int) -> dict[str, Any]:
    """Per-seed AUROC, horizon and verdict; the mean per-seed lookback-0 AUROC with a BCa interval over
    the pooled events (seed kept as a label); whether the seed-mean null-model drift exceeds the
    experimental drift before violations."""
    ok = [o for o in per_seed if not o["insufficient_events"]]
    out: dict[str, Any] = {"seeds": seeds,
                           "auroc_lookback0_by_seed": [o.get("auroc_lookback0") for o in per_seed],
                           "predictive_horizon_by_seed": [o.get("predictive_horizon") for o in per_seed],
                           "supported_by_seed": [o["verdict"].startswith("SUPPORTED") for o in per_seed],
                           "auroc_lookback0_seed_mean": float(np.mean([o["auroc_lookback0"] for o in ok]))}
    valid = [p for p in pools if p is not None]
    score = np.concatenate([p[0] for p in valid])
    labels = np.concatenate([p[1] for p in valid])
    seed_id = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(valid)])
    out["auroc_lookback0_seed_mean_ci"] = list(seed_mean_auroc_ci(score, labels, seed_id, n_bootstrap, seed))
    out["null_drifts_more_seed_mean"] = (float(np.mean([o["drift_mean_null"] for o in ok]))
                                         > float(np.mean([o["drift_mean_violation"] for o in ok])))
    return out


def seeds_verdict(out: dict[str, Any], n_ok: int, correction: str, alpha: float) -> tuple[bool, str]:
    """Whether the multi-seed drift signal beats its nulls (a seed-mean horizon exists and the null model
    does not drift more), and the verdict line that says so. `out` holds aggregate_seeds' and
    aggregate_metrics' results."""
    more = out["null_drifts_more_seed_mean"]
    beats = bool(out["predictive_horizon_seeds"] >= 0 and not more)
    line = (f"{n_ok} seeds: predictive horizon {out['predictive_horizon_seeds']} "
            f"({correction}-corrected, alpha {alpha}); seed-mean null-model drift "
            f"{'>' if more else '<='} experimental drift before violations. {beats_null_line(beats)}")
    return beats, line
