"""DCSBM study building blocks: graph, walks, subspace distance, detection metrics, softmax bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.research.dcsbm.graph import make_dcsbm
from engine.research.dcsbm.metrics import (
    auroc,
    auroc_pair_count,
    fit_logistic,
    pr_curve,
    predict_logistic,
    reliability,
)
from engine.research.dcsbm.model import WalkTransformer
from engine.research.dcsbm.softmax_bound import perturbation_report, softmax_jacobian
from engine.research.dcsbm.subspace import drift, grassmann_distance, max_distance, top_subspace
from engine.research.dcsbm.walks import find_events, generate_walks, rule_compliance


@pytest.fixture(scope="module")
def graph():
    return make_dcsbm(64, 4, 0.4, 0.03, np.random.default_rng(0), jumpers_per_block=2, horizon=4)


def test_graph_blocks_degrees_and_jumpers(graph) -> None:
    assert np.bincount(graph.block).tolist() == [16] * 4
    for b in range(4):
        assert graph.theta[graph.block == b].mean() == pytest.approx(1.0)
    same = graph.block[:, None] == graph.block[None, :]
    assert graph.adj[same].mean() > 5 * graph.adj[~same].mean()       # assortative blocks
    assert graph.adj.any(axis=1).all() and not graph.adj.diagonal().any()
    assert len(graph.jumpers) == 8
    for j in graph.jumpers:
        assert j.target_block != graph.block[j.vertex] and graph.feasible(j)
    # degree correction: high-theta vertices get more edges
    deg = graph.adj.sum(1) + graph.adj.sum(0)
    assert np.corrcoef(graph.theta, deg)[0, 1] > 0.5


def test_walks_follow_edges_and_rules(graph) -> None:
    rng = np.random.default_rng(1)
    walks = generate_walks(graph, 300, 40, rng, enforce=True)
    null = generate_walks(graph, 300, 40, rng, enforce=False)
    for w in (walks, null):
        assert graph.adj[w[:, :-1], w[:, 1:]].all()
    assert rule_compliance(graph, walks) == 1.0
    assert rule_compliance(graph, null) < 0.5
    # while a rule is pending no other jumper is visited
    is_j = graph.jumper_target()[walks] >= 0
    for e in find_events(graph, walks):
        assert not is_j[e.walk, e.pos + 1:e.pos + graph.horizon + 1].any()


def test_grassmann_distance_properties() -> None:
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(6, 2, generator=gen, dtype=torch.float64))[0]
    rot = torch.linalg.qr(torch.randn(2, 2, generator=gen, dtype=torch.float64))[0]
    assert float(grassmann_distance(basis, basis @ rot)) < 1e-6          # same span, other basis
    e = torch.eye(6, dtype=torch.float64)
    assert float(grassmann_distance(e[:, :2], e[:, 2:4])) == pytest.approx(max_distance(2))
    theta = 0.3                                                          # two lines at angle 0.3
    line = torch.tensor([[math.cos(theta)], [math.sin(theta)]], dtype=torch.float64)
    assert float(grassmann_distance(torch.eye(2, dtype=torch.float64)[:, :1], line)) == pytest.approx(theta)
    us = [torch.linalg.qr(torch.randn(50, 6, 3, generator=gen, dtype=torch.float64))[0] for _ in range(3)]
    d01, d12, d02 = grassmann_distance(us[0], us[1]), grassmann_distance(us[1], us[2]), grassmann_distance(us[0], us[2])
    assert torch.allclose(d01, grassmann_distance(us[1], us[0]))
    assert (d02 <= d01 + d12 + 1e-9).all() and (d01 <= max_distance(3) + 1e-9).all()


def test_top_subspace_and_drift() -> None:
    m = torch.diag(torch.tensor([5.0, 3.0, 1.0, 0.5]))
    u = top_subspace(m, 2)
    assert float(grassmann_distance(u, torch.eye(4)[:, :2])) < 1e-5
    traj = torch.stack([torch.eye(4)[:, :2], torch.eye(4)[:, :2], torch.eye(4)[:, 2:]])
    d = drift(traj)
    assert math.isnan(float(d[0])) and float(d[1]) < 1e-6 and float(d[2]) == pytest.approx(max_distance(2), rel=1e-5)


@pytest.mark.parametrize("seed", range(20))
def test_auroc_matches_pair_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pos, neg = rng.integers(0, 6, rng.integers(1, 12)), rng.integers(0, 6, rng.integers(1, 12))   # many ties
    assert auroc(pos, neg) == pytest.approx(auroc_pair_count(pos, neg), abs=1e-12)


def test_auroc_extremes_and_pr() -> None:
    assert auroc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auroc(np.array([1.0]), np.array([2.0, 3.0])) == 0.0
    assert auroc(np.ones(3), np.ones(4)) == 0.5
    scores, labels = np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0])
    precision, recall, ap = pr_curve(scores, labels)
    assert ap == 1.0 and recall[-1] == 1.0 and precision[-1] == 0.5
    _, _, ap_tied = pr_curve(np.zeros(10), np.array([1] * 3 + [0] * 7))
    assert ap_tied == pytest.approx(0.3)                                  # no ranking: AP = base rate


def test_logistic_calibration_and_ece() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=20000)
    y = (rng.random(20000) < predict_logistic(x, -1.0, 2.0)).astype(np.float64)
    a, b = fit_logistic(x, y)
    assert a == pytest.approx(-1.0, abs=0.1) and b == pytest.approx(2.0, abs=0.15)
    _, ece = reliability(predict_logistic(x, a, b), y)
    _, ece_bad = reliability(predict_logistic(x, a + 2.0, b), y)
    assert ece < 0.02 < 0.1 < ece_bad


def test_softmax_jacobian_norms() -> None:
    n = 8
    norm = lambda p: float(torch.linalg.matrix_norm(softmax_jacobian(p), ord=2))  # noqa: E731
    assert norm(torch.full((n,), 1 / n, dtype=torch.float64)) == pytest.approx(1 / n)
    assert norm(torch.tensor([0.5, 0.5] + [0.0] * (n - 2), dtype=torch.float64)) == pytest.approx(0.5)
    p = torch.softmax(3 * torch.randn(1000, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64), -1)
    assert float(torch.linalg.matrix_norm(softmax_jacobian(p), ord=2).max()) <= 0.5


@pytest.mark.parametrize("causal", [False, True])
def test_softmax_bound_never_violated(causal: bool) -> None:
    gen = torch.Generator().manual_seed(int(causal))
    g = {"generator": gen, "dtype": torch.float64}
    b, t, d_k = 200, 12, 6
    scale = torch.exp(3 * torch.randn(b, 1, 1, **g))                      # from near-uniform to peaked rows
    qkt = scale * torch.randn(b, t, d_k, **g) @ torch.randn(b, d_k, t, **g)
    eps = torch.exp(2 * torch.randn(b, 1, 1, **g) - 3)                    # small and large perturbations
    delta = torch.randn(b, t, t, **g)
    delta = eps * torch.linalg.matrix_norm(qkt)[:, None, None] * delta / torch.linalg.matrix_norm(delta)[:, None, None]
    mask = torch.ones(t, t, dtype=torch.bool).tril() if causal else None
    rep = perturbation_report(qkt, delta, torch.randn(b, t, d_k, **g), torch.randn(b, d_k, d_k, **g), d_k, mask)
    def within(measured: torch.Tensor, bound: torch.Tensor) -> bool:   # float64 round-off only
        return bool((measured <= bound * (1 + 1e-9) + 1e-12).all())

    assert within(rep.d_att, rep.b_att) and within(rep.d_av, rep.b_av) and within(rep.d_out, rep.b_out)
    assert within(rep.d_sigma, rep.d_out_2) and within(rep.d_out_2, rep.d_out)
    assert within(rep.d_sigma, rep.bound) and (rep.bound > 0).all()
    assert (rep.d_att > 0.2 * rep.b_att).any()                            # stage 1 is not vacuous


def test_model_internals_rebuild_the_attention_output() -> None:
    torch.manual_seed(0)
    model = WalkTransformer(vocab=20, n_ctx=8, d_model=16, n_layers=1, n_heads=2)
    idx = torch.randint(0, 20, (3, 8))
    x = model.tok(idx) + model.pos(torch.arange(8))
    block = model.blocks[0]
    y, info = block.attn(block.ln1(x), internals=True)
    assert info is not None
    assert torch.allclose(info["avwo"].sum(1), y, atol=1e-5)            # heads' AVW_O add up to the output
    assert (info["qkt"].triu(1) == 0).all() and torch.allclose(info["att"].sum(-1), torch.ones(3, 2, 8))


def test_equal_mass_bins() -> None:
    prob = np.linspace(0.2, 0.3, 800)
    y = (np.arange(800) % 4 == 0).astype(np.float64)
    rows, _ = reliability(prob, y, n_bins=8, equal_mass=True)
    assert [r["count"] for r in rows] == [100] * 8
    assert len(reliability(prob, y, n_bins=8)[0]) <= 2                    # equal width: one or two bins


def test_sliding_eval_and_event_table_per_head(graph) -> None:
    from engine.research.dcsbm.drift import event_table, window_drift
    from engine.research.dcsbm.train import sliding_eval

    torch.manual_seed(0)
    model = WalkTransformer(vocab=graph.n, n_ctx=8, d_model=16, n_layers=2, n_heads=2).eval()
    walks = generate_walks(graph, 20, 30, np.random.default_rng(2))
    logits, mats = sliding_eval(model, walks, layer=1, target="qkt")
    assert logits.shape == (20, 23, graph.n) and mats.shape == (20, 23, 2, 8, 8)
    # window i of walk w is the model's view of walk[w, i : i + 8]
    direct, _ = model(torch.as_tensor(walks[3:4, 5:13]))
    assert torch.allclose(direct[0, -1], logits[3, 5], atol=1e-5)
    d = window_drift(mats, k=2)
    assert d.shape == (20, 23, 2) and torch.isnan(d[:, 0]).all() and (d[:, 1:] <= max_distance(2) + 1e-5).all()
    table = event_table(graph, walks, logits, d, n_ctx=8)
    assert table.drift.shape == (len(table.violated), graph.horizon, 2)
    assert ((table.p_target >= 0) & (table.p_target <= 1 + 1e-6)).all()
