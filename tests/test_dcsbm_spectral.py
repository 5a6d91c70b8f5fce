"""The nine SVD metrics against matrices with known spectra, the two tiers against each other,
Frenet curvature/torsion against a helix, and the predictive-horizon/bootstrap statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.research.dcsbm import horizon, spectral


def _known(sigmas: list[float], n: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    s = torch.zeros(n, dtype=torch.float64)
    s[: len(sigmas)] = torch.tensor(sigmas, dtype=torch.float64)
    return u * s @ v.T


def test_value_metrics_match_closed_forms() -> None:
    sig = [5.0, 3.0, 2.0, 1.5, 1.0, 0.5, 0.25, 0.125]
    m = _known(sig)
    got = spectral.value_metrics(torch.linalg.svdvals(m))
    p = np.array(sig) / sum(sig)
    want = {"stable_rank": sum(x * x for x in sig) / 25, "spectral_entropy": float(-(p * np.log(p)).sum()),
            "gap_1_2": 2.0, "gap_2_3": 1.0, "gap_4_5": 0.5, "condition_number": 40.0}
    for name, value in want.items():
        assert float(got[name]) == pytest.approx(value, rel=1e-10), name


def test_condition_number_ignores_null_directions_and_rank1_residual() -> None:
    m = _known([4.0, 2.0, 1.0])                              # rank 3 of 8
    s = torch.linalg.svdvals(m)
    assert float(spectral.value_metrics(s)["condition_number"]) == pytest.approx(4.0, rel=1e-8)
    mats = torch.stack([_known([4.0, 2.0, 1.0], seed=i) for i in range(3)])
    metrics, spectra = spectral.trajectory_metrics(mats, k=2)
    assert torch.allclose(metrics["rank1_residual"], spectral.rank1_residual_direct(mats), atol=1e-12)
    assert float(metrics["rank1_residual"][0]) == pytest.approx(math.sqrt(5 / 21), rel=1e-10)
    assert spectra.shape == (3, 8) and math.isnan(float(metrics["grassmannian_drift"][0]))


def test_read_write_alignment_of_symmetric_and_rotated() -> None:
    sym = _known([3.0, 1.0])
    sym = sym @ sym.T                                        # symmetric PSD: u1 = v1
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64) @ torch.diag(torch.tensor([2.0, 1.0],
                                                                                       dtype=torch.float64))
    metrics, _ = spectral.trajectory_metrics(torch.stack([sym]), k=1)
    assert float(metrics["read_write_alignment"][0]) == pytest.approx(1.0, abs=1e-10)
    metrics, _ = spectral.trajectory_metrics(rot[None], k=1)
    assert float(metrics["read_write_alignment"][0]) == pytest.approx(0.0, abs=1e-10)   # writes orthogonally


def test_two_tier_agrees_with_full_svd_on_low_rank() -> None:
    mats = torch.stack([_known([6.0, 3.0, 1.0, 0.5], n=16, seed=i) for i in range(6)])
    full, s_full = spectral.trajectory_metrics(mats, k=2, tier="full")
    torch.manual_seed(0)
    two, s_two = spectral.trajectory_metrics(mats, k=2, tier="two_tier")
    assert torch.allclose(s_full, s_two, atol=1e-10)
    for name in spectral.METRICS:
        assert torch.allclose(full[name], two[name], atol=1e-8, equal_nan=True), name
    with pytest.raises(ValueError, match="unknown SVD tier"):
        spectral.decompose(mats, 2, "magic")


def test_helix_curvature_and_torsion() -> None:
    r, h = 2.0, 0.5
    t = np.linspace(0, 4 * np.pi, 4001)
    kappa, tau = spectral.curvature_torsion(np.stack([r * np.cos(t), r * np.sin(t), h * t], axis=1))
    inner = slice(10, -10)
    assert np.allclose(kappa[inner], r / (r * r + h * h), rtol=1e-4)
    assert np.allclose(tau[inner], h / (r * r + h * h), rtol=1e-3)
    circle_k, circle_t = spectral.curvature_torsion(np.stack([r * np.cos(t), r * np.sin(t), 0 * t], axis=1))
    assert np.allclose(circle_k[inner], 1 / r, rtol=1e-4) and np.nanmax(np.abs(circle_t[inner])) < 1e-6


def test_predictive_horizon_and_auroc_ci() -> None:
    lb, p_bh = horizon.predictive_horizon(np.array([0.001, 0.004, 0.03, 0.6]))
    assert lb == 2 and np.allclose(p_bh, [0.004, 0.008, 0.04, 0.6])
    assert horizon.predictive_horizon(np.array([0.3, 0.9]))[0] == -1
    assert np.allclose(horizon.permutation_p(np.array([0.7, 0.5]), np.array([[0.6, 0.6], [0.8, 0.4]])), [2 / 3, 2 / 3])
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.3
    score = rng.normal(size=300) + labels
    lo, hi = horizon.auroc_ci(score, labels, n_resamples=300)
    from engine.research.dcsbm.metrics import auroc
    point = auroc(score[labels], score[~labels])
    assert lo < point < hi and lo > 0.6 and hi < 0.9


def test_holm_correction_and_horizon_by_holm() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert np.allclose(horizon.corrected_p(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    assert horizon.predictive_horizon(p, 0.05, "holm")[0] == 3
    assert horizon.predictive_horizon(p, 0.05, "bh")[0] == 3
    assert horizon.predictive_horizon(np.array([0.001, 0.02, 0.024]), 0.05, "holm")[0] == 2   # 0.003, 0.04, 0.04
    with pytest.raises(ValueError, match="correction"):
        horizon.corrected_p(p, "bonferroni-ish")


def test_rank_auroc_and_seed_aggregation() -> None:
    from engine.research.dcsbm.metrics import auroc
    rng = np.random.default_rng(4)
    labels = rng.random(200) < 0.2
    score = np.round(rng.normal(size=200) + labels, 1)              # ties
    assert horizon.auroc_rank(score, labels) == pytest.approx(auroc(score[labels], score[~labels]), abs=1e-14)
    # two seeds whose lookback 0 carries signal and lookback 1 none: horizon 0
    obs = [np.array([0.8, 0.5]), np.array([0.7, 0.52])]
    null = [rng.normal(0.5, 0.03, (500, 2)), rng.normal(0.5, 0.03, (500, 2))]
    agg = horizon.aggregate_horizon(obs, null)
    assert agg["horizon"] == 0 and agg["auroc_mean"] == pytest.approx([0.75, 0.51])
    assert agg["p"][0] == pytest.approx(1 / 501) and agg["p"][1] > 0.2
    g = np.r_[np.zeros(100, int), np.ones(100, int)]
    lo, hi = horizon.seed_mean_auroc_ci(score, labels, g, n_resamples=300)
    point = np.mean([horizon.auroc_rank(score[g == k], labels[g == k]) for k in (0, 1)])
    assert lo < point < hi


def test_wvwo_is_the_value_to_output_map_of_each_head() -> None:
    from engine.research.dcsbm.model import WalkTransformer
    from engine.research.dcsbm.stream import wvwo_matrices, wvwo_trajectory
    torch.manual_seed(0)
    model = WalkTransformer(10, 6, 8, 2, 2).double()
    idx = torch.randint(0, 10, (3, 6))
    _, layers = model(idx, internals=True)
    x = model.tok(idx) + model.pos(torch.arange(6))
    ln = model.blocks[0].ln1(x)                                          # layer 0's attention input
    w = wvwo_matrices(model)
    assert w.shape == (2, 2, 8, 8)
    for h in range(2):                                                   # AVW_O = A (LN x) WvWo, per head
        assert torch.allclose(layers[0]["avwo"][:, h], layers[0]["att"][:, h] @ ln @ w[0, h], atol=1e-12)
        assert int(torch.linalg.matrix_rank(w[0, h])) <= 4               # rank <= d_head
    values, s = wvwo_trajectory([w, w * 2.0, w], k=2, tier="full")
    assert s.shape == (2, 2, 3, 8) and torch.allclose(s[..., 1, :], 2 * s[..., 0, :])
    assert float(values["grassmannian_drift"][..., 1:].abs().max()) < 1e-6  # scaling keeps the subspace


def test_streamed_drift_reuses_the_metric_svd_exactly() -> None:
    from engine.research.dcsbm.drift import window_drift
    from engine.research.dcsbm.model import WalkTransformer
    from engine.research.dcsbm.stream import stream_eval
    from engine.research.dcsbm.train import sliding_eval
    torch.manual_seed(1)
    model = WalkTransformer(12, 6, 8, 2, 2).eval()
    walks = np.random.default_rng(0).integers(0, 12, (5, 14))
    st = stream_eval(model, walks, 1, "qkt", "left", 2, "full", block=2)
    ref = window_drift(sliding_eval(model, walks, 1, "qkt")[1], 2, "left")
    assert st.drift.shape == ref.shape and torch.allclose(st.drift, ref, atol=1e-5, equal_nan=True)
    right = stream_eval(model, walks, 1, "avwo", "right", 2, "full", block=3)
    assert torch.allclose(right.drift, window_drift(sliding_eval(model, walks, 1, "avwo")[1], 2, "right"),
                          atol=1e-6, equal_nan=True)


def test_causal_curvature_reads_only_the_past_and_converges_on_a_helix() -> None:
    r, h = 2.0, 0.5
    t = np.linspace(0, 4 * np.pi, 8001)
    helix = np.stack([r * np.cos(t), r * np.sin(t), h * t], axis=1)
    kappa, tau = spectral.curvature_torsion(helix, causal=True)
    assert np.isnan(kappa[:2]).all() and np.isnan(tau[:3]).all()
    assert np.allclose(kappa[10:], r / (r * r + h * h), rtol=2e-3)
    assert np.allclose(tau[10:], h / (r * r + h * h), rtol=2e-3)
    bent = helix.copy()
    bent[5000:] += 1.0                                                    # change the future only
    k2, t2 = spectral.curvature_torsion(bent, causal=True)
    assert np.array_equal(k2[:5000], kappa[:5000], equal_nan=True)
    assert np.array_equal(t2[:5000], tau[:5000], equal_nan=True)
