"""engine/research/dcsbm/study.py on small synthetic cases, each against a reference written here.

The references are deliberately slow and literal: a loop of metrics.auroc over explicit label
permutations (drawn from a generator seeded like the study's), permutation p-values and a
Benjamini-Hochberg correction counted by hand, a planted signal that must be found and pure noise
that must not be, and a helix whose Frenet curvature and torsion are known in closed form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from engine.research.dcsbm import spectral, study
from engine.research.dcsbm.drift import EventTable, event_table
from engine.research.dcsbm.graph import make_dcsbm
from engine.research.dcsbm.horizon import seed_mean_auroc_ci
from engine.research.dcsbm.metrics import auroc
from engine.research.dcsbm.stream import TARGETS, Streamed
from engine.research.dcsbm.walks import find_events, generate_walks


def _perm_aurocs(scores: np.ndarray, labels: np.ndarray, n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Reference null: (n, cols) AUROCs of each column under n permutations drawn as the study draws them
    (n calls of rng.permutation), and the observed AUROC per column."""
    perms = [rng.permutation(labels) for _ in range(n)]
    cols = range(scores.shape[1])
    null = np.array([[auroc(scores[p, c], scores[~p, c]) for c in cols] for p in perms])
    return null, np.array([auroc(scores[labels, c], scores[~labels, c]) for c in cols])


def _perm_p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    return np.array([(1 + sum(row[j] >= observed[j] for row in null)) / (1 + len(null))
                     for j in range(len(observed))])


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg by its definition: min over j >= i of p_(j) m / j, capped at 1."""
    m, order = len(p), np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.array([min(ranked[i:]) for i in range(m)])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def _table(rng: np.random.Generator, n: int = 120, r: int = 3, heads: int = 2, planted: float = 0.0,
           at: tuple[int, int] = (1, 1)) -> EventTable:
    """Events with noise drift; `planted` is added to violations' drift at (lookback, head) `at`."""
    violated = rng.random(n) < 0.4
    drift = rng.normal(size=(n, r, heads))
    drift[violated, at[0], at[1]] += planted
    p_target = np.clip(0.8 - 0.5 * violated + 0.1 * rng.normal(size=n), 0, 1)
    return EventTable(violated, drift, p_target)


def test_shuffle_null_matches_a_loop_of_auroc_on_permuted_labels() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(50, 4)), 1)                          # rounded: ties in every column
    labels = rng.random(50) < 0.3
    shuffled, observed = study.shuffle_null(scores, labels, 40, np.random.default_rng(7))
    ref_null, ref_obs = _perm_aurocs(scores, labels, 40, np.random.default_rng(7))
    assert shuffled.shape == (40, 4)
    np.testing.assert_allclose(shuffled, ref_null, rtol=0, atol=1e-12)
    np.testing.assert_allclose(observed, ref_obs, rtol=0, atol=1e-12)


def test_score_drift_finds_a_planted_signal_with_reference_p_values() -> None:
    exp = _table(np.random.default_rng(1), planted=2.0, at=(1, 1))
    null = _table(np.random.default_rng(2))
    labels = exp.violated
    out, rows = study.score_drift(exp, null, labels, 60, 5, np.random.default_rng(3))
    assert (out["best_lookback"], out["best_head"]) == (1, 1)
    col = exp.drift[:, 1, 1]
    assert out["auroc_best"] == pytest.approx(auroc(col[labels], col[~labels]), abs=1e-12)
    assert out["drift_beats_shuffle"] and out["drift_p_value"] == pytest.approx(1 / 61)
    ref_null, ref_obs = _perm_aurocs(exp.drift.reshape(len(labels), -1), labels, 60, np.random.default_rng(3))
    lb0_null = ref_null[:, :2].max(1)                                   # lookback 0 = columns 0..heads-1
    assert out["p_lookback0"] == pytest.approx(_perm_p(ref_obs[:2].max(keepdims=True), lb0_null[:, None])[0])
    dev = np.abs(ref_null - 0.5).max(1)
    assert out["shuffle_p95_deviation"] == pytest.approx(np.percentile(dev, 95), abs=1e-12)
    assert out["shuffle_mean_auroc"] == pytest.approx(ref_null.mean(), abs=1e-12)
    assert out["positive_control_auroc"] > 0.95                       # p_target is lower before violations
    assert out["auroc_rank_vs_pairs_err"] < 1e-12 and out["auroc_rank_vs_pairs_err_ties"] < 1e-12
    assert out["drift_mean_violation"] == pytest.approx(col[labels].mean())
    assert out["drift_mean_null"] == pytest.approx(null.drift[:, 1, 1].mean())
    np.testing.assert_array_equal(out["_lb0"], exp.drift[:, 0, 1])
    stages = [f["stage"] for _, f in rows]
    assert stages.count("drift") == 3 * 3 and stages.count("auroc") == 2 * 3
    assert stages.count("reliability") == 2 * 5 and 0 < stages.count("pr") <= 60
    assert 0 <= out["ece"] <= 1 and out["base_rate"] == pytest.approx(labels.mean())


def test_score_drift_finds_nothing_in_noise() -> None:
    exp, null = _table(np.random.default_rng(4)), _table(np.random.default_rng(5))
    labels = exp.violated
    out, _ = study.score_drift(exp, null, labels, 200, 5, np.random.default_rng(6))
    assert not out["drift_beats_shuffle"] and out["drift_p_value"] > 0.05
    assert abs(out["shuffle_mean_auroc"] - 0.5) < 0.02
    ref_null, ref_obs = _perm_aurocs(exp.drift.reshape(len(labels), -1), labels, 200, np.random.default_rng(6))
    dev = np.abs(ref_null - 0.5).max(1)                          # two-sided: best |AUROC - 0.5| per shuffle
    best = np.abs(ref_obs - 0.5).max()
    assert out["deviation_best"] == pytest.approx(best, abs=1e-12)
    assert out["drift_p_value"] == pytest.approx((1 + (dev >= best).sum()) / 201, abs=1e-12)
    assert out["shuffle_p95_deviation"] == pytest.approx(np.percentile(dev, 95), abs=1e-12)


def test_score_drift_is_two_sided() -> None:
    """Drift that falls before violations is found too (AUROC below 0.5)."""
    exp, null = _table(np.random.default_rng(7), planted=-2.0, at=(2, 0)), _table(np.random.default_rng(8))
    out, _ = study.score_drift(exp, null, exp.violated, 60, 5, np.random.default_rng(9))
    assert (out["best_lookback"], out["best_head"]) == (2, 0) and out["auroc_best"] < 0.2
    assert out["drift_beats_shuffle"] and out["drift_p_value"] == pytest.approx(1 / 61)


def _streamed(seed: int, r: int = 3, n_ctx: int = 8, heads: int = 2,
              planted: float = 3.0) -> tuple[Any, np.ndarray, Streamed, np.ndarray]:
    """A real small graph and walks, random logits (so about half the deadlines are violated), and
    per-window metrics that are noise except qkt.grassmannian_drift, raised on every lookback window
    of a violated event. AVW_O's metrics are all NaN: they must be skipped."""
    rng = np.random.default_rng(seed)
    graph = make_dcsbm(32, 2, 0.5, 0.05, rng, 0.5, 2, r)
    walks = generate_walks(graph, 80, 40, rng, enforce=True)
    n_win = walks.shape[1] - n_ctx + 1
    logits = torch.as_tensor(rng.normal(size=(len(walks), n_win, graph.n)))
    metrics: dict[str, dict[str, torch.Tensor]] = {}
    for target in TARGETS:
        metrics[target] = {}
        for name in (*spectral.METRICS, *spectral.CURVE_METRICS):
            vals = rng.normal(size=(len(walks), n_win, heads))
            vals[:, 0] = np.nan
            metrics[target][name] = torch.as_tensor(vals if target == "qkt" else np.full_like(vals, np.nan))
    first = event_table(graph, walks, logits, metrics["qkt"]["stable_rank"], n_ctx)
    planted_vals = metrics["qkt"]["grassmannian_drift"].numpy()
    for e, bad in zip(find_events(graph, walks, first=n_ctx + r), first.violated, strict=True):
        if bad:
            win = e.pos + r - 1 - (n_ctx - 1)
            planted_vals[e.walk, win - np.arange(r), 1] += planted
    st = Streamed(logits=logits, drift=torch.empty(0), metrics=metrics)
    return graph, walks, st, first.violated


def test_metric_horizons_match_a_hand_computed_horizon() -> None:
    graph, walks, st, labels = _streamed(10)
    r, n_ctx, n_shuffles = graph.horizon, 8, 30
    assert 10 < labels.sum() < len(labels) - 10
    out, pool, rows = study.metric_horizons(graph, walks, st, labels, n_ctx, n_shuffles, 0.05, "bh",
                                            np.random.default_rng(11))
    names = (*spectral.METRICS, *spectral.CURVE_METRICS)
    assert out["metrics"] == [f"qkt.{n}" for n in names] and out["n_metrics"] == len(names)
    ref_rng = np.random.default_rng(11)
    for name in names:                                          # the same rng stream, metric by metric
        table = event_table(graph, walks, st.logits, st.metrics["qkt"][name], n_ctx)
        flat = np.nan_to_num(table.drift.reshape(len(labels), -1), nan=0.0)
        null, obs = _perm_aurocs(flat, labels, n_shuffles, ref_rng)
        per_lb = obs.reshape(r, -1).max(1)
        null_lb = null.reshape(n_shuffles, r, -1).max(2)
        key = f"qkt.{name}"
        np.testing.assert_allclose(out["auroc_by_metric"][key], per_lb, rtol=0, atol=1e-12)
        np.testing.assert_allclose(out["horizon_by_metric"][key]["p_bh"], _bh(_perm_p(per_lb, null_lb)), atol=1e-12)
        np.testing.assert_allclose(pool[key][1], null_lb, rtol=0, atol=1e-12)
    assert out["horizon_by_metric"]["qkt.grassmannian_drift"]["horizon"] == r - 1       # planted: found
    assert out["horizon_by_metric"]["qkt.stable_rank"]["horizon"] == -1                 # noise: not found
    assert sum(v["horizon"] >= 0 for v in out["horizon_by_metric"].values()) <= 2
    assert len(rows) == r * len(names) and {f["stage"] for _, f in rows} == {"metric_auroc"}


def test_spectral_curve_medians_of_a_helix() -> None:
    t = np.linspace(0, 6, 120)
    curve = np.stack([10 + np.cos(t), 6 + np.sin(t), 2 + 0.5 * t], axis=1)        # radius 1, pitch 0.5
    spectra = torch.as_tensor(np.broadcast_to(curve[None, :, None, :], (3, 120, 1, 3)).copy())
    out = study.spectral_curve_medians(spectra, 2, 3)
    assert out["spectral_curvature_median"] == pytest.approx(1 / 1.25, rel=0.01)
    assert out["spectral_torsion_median"] == pytest.approx(0.5 / 1.25, rel=0.01)


def test_wvwo_summary_of_known_spectra() -> None:
    """Fixed singular vectors, singular values on a helix: zero drift, known stable rank and geometry."""
    rng = np.random.default_rng(20)
    d, n_ckpt, every = 4, 60, 5
    u, _ = np.linalg.qr(rng.normal(size=(d, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    t = np.linspace(0, 6, n_ckpt)
    sv = np.stack([10 + np.cos(t), 6 + np.sin(t), 2 + 0.5 * t, np.full_like(t, 0.5)], axis=1)
    mats = [torch.as_tensor(u @ np.diag(s) @ v.T).expand(2, 1, d, d).clone() for s in sv]   # (L=2, H=1, d, d)
    out, arrays, rows = study.wvwo_summary({"experimental": mats, "null": mats[::2]}, 2, "full", every, 3)
    exp = out["wvwo_trajectory"]["experimental"]
    last = sv[-1]
    assert exp["stable_rank"][0][0] == pytest.approx((last**2).sum() / last[0] ** 2, rel=1e-9)
    assert exp["gap_1_2"][1][0] == pytest.approx(last[0] - last[1], rel=1e-9)
    assert exp["grassmannian_drift_mean"][0][0] < 1e-6
    assert exp["curvature_median"][0][0] == pytest.approx(1 / 1.25, rel=0.02)
    assert exp["torsion_median"][0][0] == pytest.approx(0.5 / 1.25, rel=0.02)
    np.testing.assert_allclose(arrays["experimental_wvwo"][0, 0], sv, rtol=1e-9)
    assert out["wvwo_checkpoints"] == n_ckpt and out["metrics_wvwo"] == [f"wvwo.{m}" for m in spectral.METRICS]
    steps = [s for s, f in rows if f["model"] == "experimental"]
    assert steps == [i * every for i in range(n_ckpt)] and len(rows) == n_ckpt + n_ckpt // 2
    assert rows[-1][1]["stable_rank"] == pytest.approx((sv[-2] ** 2).sum() / sv[-2][0] ** 2, rel=1e-9)


def _scored(mean_null: float, mean_violation: float, beats: bool = True) -> dict[str, Any]:
    return {"drift_mean_null": mean_null, "drift_mean_violation": mean_violation, "drift_beats_shuffle": beats,
            "best_lookback": 0, "auroc_best": 0.7, "drift_p_value": 0.01, "shuffle_p95_deviation": 0.1}


def test_null_model_stats() -> None:
    rng = np.random.default_rng(30)
    null = _table(rng, planted=1.0, at=(0, 0))
    res = study.null_model_stats(null, _scored(0.2, 0.5), 5)
    lb0 = null.drift[:, 0, :].max(1)
    assert res["null_model_auroc_lookback0"] == pytest.approx(auroc(lb0[null.violated], lb0[~null.violated]))
    assert res["null_model_n_violations"] == int(null.violated.sum())
    assert not res["null_drifts_more"] and res["drift_signal_beats_null"]
    assert res["verdict"].startswith("SUPPORTED") and res["verdict"].endswith("beats null: yes")
    more = study.null_model_stats(null, _scored(0.9, 0.5), 10**6)                 # too few events for an AUROC
    assert more["null_model_auroc_lookback0"] is None and more["null_drifts_more"]
    assert more["verdict"].startswith("NOT SUPPORTED") and "drifts MORE" in more["verdict"]


def test_aggregate_seeds_means_and_interval() -> None:
    rng = np.random.default_rng(40)
    per_seed, pools = [], []
    for shift in (0.8, 1.2, 1.0):
        labels = rng.random(80) < 0.4
        lb0 = rng.normal(size=80) + shift * labels
        pools.append((lb0, labels))
        per_seed.append({"insufficient_events": False, "auroc_lookback0": auroc(lb0[labels], lb0[~labels]),
                         "predictive_horizon": 1, "verdict": "SUPPORTED: x", "drift_mean_null": 0.1,
                         "drift_mean_violation": 0.3})
    per_seed.append({"insufficient_events": True, "verdict": "NO VERDICT"})
    pools.append(None)
    out = study.aggregate_seeds(per_seed, pools, [1, 2, 3, 4], 200, 0)
    assert out["seeds"] == [1, 2, 3, 4] and out["auroc_lookback0_by_seed"][3] is None
    assert out["supported_by_seed"] == [True, True, True, False]
    mean = np.mean([o["auroc_lookback0"] for o in per_seed[:3]])
    assert out["auroc_lookback0_seed_mean"] == pytest.approx(mean, abs=1e-12)
    lo, hi = out["auroc_lookback0_seed_mean_ci"]
    assert lo < mean < hi and not out["null_drifts_more_seed_mean"]
    seed_id = np.repeat([0, 1, 2], 80)                          # events resampled within their own seed
    assert (lo, hi) == seed_mean_auroc_ci(np.concatenate([p[0] for p in pools[:3]]),
                                          np.concatenate([p[1] for p in pools[:3]]), seed_id, 200, 0)


def test_aggregate_metrics_and_seeds_verdict_on_two_synthetic_seeds() -> None:
    pools, labels, r = [], [], 3
    for seed in (50, 51):
        graph, walks, st, lab = _streamed(seed, planted=1.5)
        _, pool, _ = study.metric_horizons(graph, walks, st, lab, 8, 40, 0.05, "bh", np.random.default_rng(seed))
        pools.append(pool)
        labels.append(lab)
    out = study.aggregate_metrics(pools, labels, "qkt.grassmannian_drift", r, 0.05, "bh", 200, 0)
    primary = out["horizon_by_metric_seeds"]["qkt.grassmannian_drift"]
    mean_obs = (pools[0]["qkt.grassmannian_drift"][0] + pools[1]["qkt.grassmannian_drift"][0]) / 2
    mean_null = (pools[0]["qkt.grassmannian_drift"][1] + pools[1]["qkt.grassmannian_drift"][1]) / 2
    np.testing.assert_allclose(primary["auroc_mean"], mean_obs, atol=1e-12)
    np.testing.assert_allclose(primary["p_adjusted"], _bh(_perm_p(mean_obs, mean_null)), atol=1e-12)
    assert out["predictive_horizon_seeds"] == r - 1 and "qkt.grassmannian_drift" in out["metrics_with_horizon_seeds"]
    assert out["horizon_by_metric_seeds"]["qkt.stable_rank"]["horizon"] == -1
    tables = [p["qkt.grassmannian_drift"][2] for p in pools]
    seed_id = np.concatenate([np.full(len(t), i) for i, t in enumerate(tables)])
    for lb, ((lo, hi), m) in enumerate(zip(out["auroc_by_lookback_seed_mean_ci"], out["auroc_by_lookback_seed_mean"],
                                           strict=True)):
        assert lo < m < hi
        score = np.nan_to_num(np.concatenate([t[:, lb, :] for t in tables]), nan=0.0)
        assert [lo, hi] == list(seed_mean_auroc_ci(score, np.concatenate(labels), seed_id, 200, lb))
    beats, line = study.seeds_verdict({**out, "null_drifts_more_seed_mean": False}, 2, "bh", 0.05)
    assert beats and line.startswith(f"2 seeds: predictive horizon {r - 1}") and line.endswith("beats null: yes")
    beats, line = study.seeds_verdict({**out, "null_drifts_more_seed_mean": True}, 2, "bh", 0.05)
    assert not beats and "null-model drift >" in line
