"""The metric scope's registry against ground truth: exact Hessians, Jacobians and brute-force loops on a float64
MLP (a plain nn.Sequential, not a project model), closed forms on planted cases, and the API on arbitrary models."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.research.crossmetric import curvature, flat, metrics_circuits, metrics_curvature, metrics_repr, scope
from engine.research.crossmetric.models import TinyConfig, TinyTransformer
from engine.research.crossmetric.registry import REGISTRY


def make_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def _data(n: int = 24, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def loader() -> torch.utils.data.DataLoader:
    x, y = _data(24)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def lm_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1)


def _exact(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, object]:
    template = flat.param_dict(model)
    f = flat.loss_of_flat(model, template, lambda m, p: F.cross_entropy(flat.call(m, p, x), y))
    theta = flat.flatten(template)
    return theta, curvature.exact_hessian(f, theta), f


def _per_sample(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    params = list(model.parameters())
    return torch.stack([torch.cat([t.reshape(-1) for t in torch.autograd.grad(
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), params)]) for i in range(len(x))])


def test_api_import_paths_and_data_loader_on_a_plain_mlp() -> None:
    out = scope.run("tests.test_crossmetric_metrics:make_mlp", "tests.test_crossmetric_metrics:loader",
                    F.cross_entropy)
    assert out["n_batches"] == 3 and out["n_metrics"] == len(out["metrics"]) >= 40
    assert set(out["skipped"]) and all("transformer" in why for why in out["skipped"].values())
    assert out["n_metrics"] + len(out["skipped"]) == len(REGISTRY)
    assert out["passes"]["forward_backward"] == 3
    finite = [m for m in out["metrics"] if m != "weight_alpha_mean"]      # no matrix has 8 singular values here
    assert all(math.isfinite(out[m]) for m in finite)


@pytest.mark.parametrize("kind", ["tiny", "lm"])
def test_every_metric_runs_on_small_transformers(kind: str) -> None:
    torch.manual_seed(0)
    if kind == "tiny":
        model: nn.Module = TinyTransformer(TinyConfig(vocab_size=7, n_ctx=12, d_model=16, n_heads=2, n_layers=2, d_ff=32))
    else:
        from engine.lm.models.attention import TransformerLM       # fused SDPA: the math-backend fallback is exercised
        model = TransformerLM(7, 12, d_model=16, n_layers=2, n_heads=2, mlp_ratio=1)
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(0, 7, (6, 12), generator=g) for _ in range(2)]
    out = scope.run(model, [(s[:, :-1], s[:, 1:]) for s in seqs], lm_loss)
    assert out["n_metrics"] == len(REGISTRY) >= 50 and not out["skipped"] and not out["non_finite"]
    assert out["details"]["logit_lens_kl"][-1] < 1e-10           # lens of the last block IS the output
    assert len(out["details"]["induction_scores"]) == 2


def test_unknown_metric_option_and_bad_batches_fail_clearly() -> None:
    with pytest.raises(KeyError, match="unknown metrics"):
        scope.run(make_mlp(), [_data()], F.cross_entropy, metrics=["nope"])
    with pytest.raises(KeyError, match="unknown scope options"):
        scope.run(make_mlp(), [_data()], F.cross_entropy, options={"probes": 3})
    with pytest.raises(ValueError, match="inputs, targets"):
        scope.run(make_mlp(), [_data()[0]], F.cross_entropy)
    with pytest.raises(ValueError, match="package.module:factory"):
        scope.run(make_mlp(), "tests.loader", F.cross_entropy)


def test_lanczos_hutchpp_and_slq_against_the_exact_hessian() -> None:
    model, (x, y) = make_mlp(), _data()
    theta, h, _ = _exact(model, x, y)
    n = theta.numel()
    ev = torch.linalg.eigvalsh(h)
    out = scope.run(model, [(x, y)], F.cross_entropy, options={"lanczos_steps": n, "hutchpp_matvecs": 3 * n,
                                                                "slq_probes": 300})
    assert out["hessian_top_eig"] == pytest.approx(float(ev[-1]), rel=1e-8)
    assert out["hessian_lambda2"] == pytest.approx(float(ev[-2]), rel=1e-8)
    assert out["hessian_min_eig"] == pytest.approx(float(ev[0]), rel=1e-6, abs=1e-9)
    assert out["hessian_trace_hutchpp"] == pytest.approx(float(h.trace()), rel=1e-8)     # k = n: exact
    # SLQ with normalised Rademacher probes: n * v^T H v / ||v||^2 = Hutchinson's sample, 300 of them
    std = math.sqrt(curvature.hutchinson_variance(h) / 300)
    assert abs(out["slq_trace"] - float(h.trace())) < 4 * std
    assert abs(out["slq_negative_mass"] - float((ev < 0).double().mean())) < 0.06
    few = scope.run(model, [(x, y)], F.cross_entropy, metrics=["hessian_trace"], options={"hutchinson_probes": 400})
    assert abs(few["hessian_trace"] - float(h.trace())) < 4 * math.sqrt(curvature.hutchinson_variance(h) / 400)


def test_ggn_equals_the_exact_true_fisher_and_mc_fisher_approaches_it() -> None:
    model, (x, y) = make_mlp(), _data()
    template = flat.param_dict(model)
    theta = flat.flatten(template)
    jac = torch.func.jacrev(lambda t: flat.call(model, flat.unflatten(t, template), x))(theta)   # (n, C, P)
    p = model(x).softmax(-1).detach()
    hz = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    ggn = torch.einsum("icp,icd,idq->pq", jac, hz, jac) / len(x)
    # true Fisher by enumerating every class for every example: 1/n sum_i sum_c p_ic g_ic g_ic^T
    fisher = torch.zeros_like(ggn)
    for c in range(3):
        g = _per_sample(model, x, torch.full_like(y, c))
        fisher += torch.einsum("i,ip,iq->pq", p[:, c], g, g) / len(x)
    assert torch.allclose(ggn, fisher, rtol=1e-10, atol=1e-13)
    out = scope.run(model, [(x, y)], F.cross_entropy, metrics=["ggn_trace", "fisher_trace_true"],
                    options={"hutchinson_probes": 400, "fisher_mc": 300})
    assert abs(out["ggn_trace"] - float(ggn.trace())) < 4 * math.sqrt(curvature.hutchinson_variance(ggn) / 400)
    assert out["fisher_trace_true"] == pytest.approx(float(fisher.trace()), rel=0.05)


def test_kfac_is_exact_for_one_example_and_its_logdet_matches_the_kronecker_block() -> None:
    model, (x, y) = make_mlp(), _data()
    x1, y1 = x[:1], y[:1]
    out = scope.run(model, [(x1, y1)], F.cross_entropy, metrics=["kfac_trace", "kfac_logdet"])
    g = _per_sample(model, x1, y1)[0]
    assert out["kfac_trace"] == pytest.approx(float(g.square().sum()), rel=1e-10)   # every parameter is in a Linear
    # log det of the damped Kronecker blocks, formed explicitly
    a_in = [torch.cat([x1[0], torch.ones(1, dtype=x.dtype)]), torch.cat([torch.tanh(model[0](x1))[0], torch.ones(1, dtype=x.dtype)])]
    sizes = [model[0].weight.numel() + 5, model[2].weight.numel() + 3]
    offs = [0, sizes[0]]
    total = 0.0
    for a, off, lin in zip(a_in, offs, (model[0], model[2]), strict=True):
        w_grad = g[off: off + lin.weight.numel()].view_as(lin.weight)
        d = w_grad[:, 0] / a[0]                                    # output gradient of the layer
        block = torch.kron(torch.outer(a, a), torch.outer(d, d)).detach()
        total += float(torch.logdet(block + 1e-3 * torch.eye(block.shape[0], dtype=block.dtype)))
    assert out["kfac_logdet"] == pytest.approx(total, rel=1e-8)


def test_sam_and_landscape_slices_against_direct_evaluation() -> None:
    model, (x, y) = make_mlp(), _data()
    theta, h, f = _exact(model, x, y)
    out = scope.run(model, [(x, y)], F.cross_entropy, seed=5, options={"slice_alpha": 1e-4},
                    metrics=["sam_sharpness", "landscape_random_curvature", "landscape_max_rise",
                             "landscape_grad_curvature", "grad_norm"])
    g = torch.func.grad(f)(theta)
    assert out["sam_sharpness"] == pytest.approx(float(f(theta + 0.05 * g / g.norm()) - f(theta)), rel=1e-9)
    assert out["landscape_grad_curvature"] == pytest.approx(float(g @ h @ g / (g @ g)), rel=1e-8)
    d = metrics_curvature.filter_normalised_direction(types.SimpleNamespace(model=model,
                                                                            gen=torch.Generator().manual_seed(5)))
    assert out["landscape_random_curvature"] == pytest.approx(float(d @ h @ d / (d @ d)), rel=1e-4)
    rises = [float(f(theta + t * d) - f(theta)) for t in torch.linspace(-1e-4, 1e-4, 9).tolist()]
    assert out["landscape_max_rise"] == pytest.approx(max(rises), rel=1e-6)


def test_fisher_family_against_brute_force_loops() -> None:
    model = make_mlp()
    data = [_data(8, s) for s in (1, 2, 3)]
    out = scope.run(model, data, F.cross_entropy, options={"ema_decay": 0.8})
    per = [_per_sample(model, x, y) for x, y in data]
    allg = torch.cat(per)
    traces = allg.square().sum(1)
    assert out["fisher_welford_trace"] == pytest.approx(float(traces.mean()), rel=1e-12)
    assert out["fisher_welford_rel_se"] == pytest.approx(float(traces.std() / math.sqrt(24) / traces.mean()), rel=1e-10)
    ema = torch.zeros(allg.shape[1], dtype=torch.float64)
    for k, g in enumerate(per, 1):
        ema = 0.8 * ema + 0.2 * g.square().mean(0)
    assert out["fisher_ema_trace"] == pytest.approx(float(ema.sum() / (1 - 0.8**3)), rel=1e-12)
    g = per[-1]                                     # single-batch metrics: check the last batch's value
    full = g.T @ g / len(g)
    ev = torch.linalg.eigvalsh(full).clamp_min(0)
    assert out["per_batch"]["fisher_top_eig"][-1] == pytest.approx(float(ev[-1]), rel=1e-10)
    pe = ev[ev > 1e-14] / ev.sum()
    assert out["per_batch"]["fisher_effective_rank"][-1] == pytest.approx(float(torch.exp(-(pe * pe.log()).sum())),
                                                                         rel=1e-6)
    groups = out["details"]["fisher_groups"]
    mass = {"0": float(g[:, :25].square().mean(0).sum()), "2": float(g[:, 25:].square().mean(0).sum())}
    assert dict(groups) == pytest.approx(mass, rel=1e-10)
    assert out["per_batch"]["fisher_group_top_share"][-1] == pytest.approx(max(mass.values()) / sum(mass.values()))
    u = g / g.norm(dim=1, keepdim=True)
    c = u @ u.T
    assert out["per_batch"]["grad_cosine_mean"][-1] == pytest.approx(float((c.sum() - 8) / 56), rel=1e-10)
    s = g.square().sum(1).sort(descending=True).values
    assert out["per_batch"]["tracin_self_top_share"][-1] == pytest.approx(float(s[0] / s.sum()), rel=1e-10)


def test_task_conflict_and_tracin_against_loops_and_a_real_sgd_step() -> None:
    model, (x, y) = make_mlp(), _data(12)
    tasks = torch.tensor([0, 1] * 6)
    out = scope.run(model, [(x, y, tasks)], F.cross_entropy,
                    metrics=["pcgrad_cosine", "gradient_conflict_fraction", "tracin_cross_influence"])
    g = _per_sample(model, x, y)
    a, b = g[tasks == 0], g[tasks == 1]
    ga, gb = a.mean(0), b.mean(0)
    assert out["pcgrad_cosine"] == pytest.approx(float(ga @ gb / (ga.norm() * gb.norm())), rel=1e-10)
    neg = sum(float(a[i] @ b[j]) < 0 for i in range(6) for j in range(6)) / 36
    assert out["gradient_conflict_fraction"] == pytest.approx(neg)
    assert out["tracin_cross_influence"] == pytest.approx(float(ga @ gb), rel=1e-10)
    theta, _, _ = _exact(model, x, y)
    template = flat.param_dict(model)

    def loss_b(t: torch.Tensor) -> float:
        return float(F.cross_entropy(flat.call(model, flat.unflatten(t, template), x[tasks == 1]), y[tasks == 1]))

    eta = 1e-5
    drop = loss_b(theta) - loss_b(theta - eta * ga)   # SGD step on task A, loss change on task B
    assert drop == pytest.approx(eta * out["tracin_cross_influence"], rel=1e-3)


def test_basic_metrics_directly() -> None:
    model, (x, y) = make_mlp(), _data()
    out = scope.run(model, [(x, y)], F.cross_entropy, metrics=["loss", "accuracy", "prediction_entropy", "param_norm",
                                                               "weight_effective_rank", "weight_stable_rank"])
    logits = model(x).detach()
    assert out["accuracy"] == pytest.approx(float((logits.argmax(1) == y).double().mean()))
    p = logits.softmax(1)
    assert out["prediction_entropy"] == pytest.approx(float(-(p * p.log()).sum(1).mean()), rel=1e-10)
    assert out["param_norm"] == pytest.approx(float(flat.flatten(flat.param_dict(model)).norm()), rel=1e-12)
    assert out["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-12)


def test_integrated_gradients_completeness_and_exactness_on_a_linear_model() -> None:
    lin = nn.Linear(4, 1).double()
    x, _ = _data(6)
    attr, full, base = metrics_circuits.integrated_gradients(lin, lambda out: out.sum(), x, 8)
    assert torch.allclose(attr, x * lin.weight.detach()[0], atol=1e-12)          # IG of a linear map is exact
    model, (x, y) = make_mlp(), _data()
    out = scope.run(model, [(x, y)], F.cross_entropy, metrics=["ig_completeness_error", "ig_top_share"],
                    options={"ig_steps": 24})
    assert out["ig_completeness_error"] < 1e-8
    tiny = TinyTransformer(TinyConfig(vocab_size=7, n_ctx=8, d_model=8, n_heads=2, n_layers=1, d_ff=16)).double()
    ids = torch.randint(0, 7, (3, 8), generator=torch.Generator().manual_seed(0))
    attr, full, base = metrics_circuits.integrated_gradients(tiny, lambda o: lm_loss(o[:, :-1], ids[:, 1:]), ids, 24)
    assert abs(float(attr.sum()) - (full - base)) < 1e-6 * abs(full - base)      # through the token embedding


def test_attention_scores_on_planted_patterns() -> None:
    s = 5
    t = 2 * s
    induction = torch.zeros(1, 2, t, t)
    for i in range(t):
        induction[0, 0, i, i - s + 1 if i >= s else 0] = 1.0
        induction[0, 1, i, max(i - 1, 0)] = 1.0
    assert metrics_circuits.induction_scores(induction, s).tolist() == [1.0, 0.0]
    assert metrics_circuits.prev_token_scores(induction).tolist()[1] == 1.0
    eye = torch.eye(6).expand(1, 3, 6, 6)
    assert torch.allclose(metrics_circuits.rollout([eye, eye]), torch.eye(6, dtype=torch.float64))
    first = torch.zeros(1, 1, 4, 4)
    first[..., 0] = 1.0
    r = metrics_circuits.rollout([first])[0]
    assert r[1:, 0].tolist() == [0.5, 0.5, 0.5] and float(r[0, 0]) == 1.0


def test_qk_ov_scores_on_planted_circuits() -> None:
    d = 4
    eye = torch.eye(d, dtype=torch.float64)
    assert metrics_circuits.copying_score(eye, eye, eye) == pytest.approx(1.0)
    assert metrics_circuits.copying_score(eye, -eye, eye) == pytest.approx(-1.0)
    a, b_, c = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    w_a, w_b = torch.outer(a, b_), torch.outer(b_, c)
    assert metrics_circuits.composition_score(w_a, w_b) == pytest.approx(1.0)      # b . b / (|b||b|)
    orth = torch.tensor([b_[1], -b_[0], 0, 0], dtype=torch.float64)
    assert metrics_circuits.composition_score(w_a, torch.outer(orth, c)) == pytest.approx(0.0, abs=1e-12)


def test_activation_patching_identities() -> None:
    torch.manual_seed(0)
    model = TinyTransformer(TinyConfig(vocab_size=7, n_ctx=10, d_model=16, n_heads=2, n_layers=2, d_ff=32)).double()
    view = scope.views.view_of(model)
    ids = torch.randint(0, 7, (4, 10), generator=torch.Generator().manual_seed(1))
    # patching the changed position before block 0 undoes the corruption exactly, as does patching every position
    assert metrics_circuits.patch_recovery(view, model, ids, 5, -1) == pytest.approx(1.0, abs=1e-12)
    assert metrics_circuits.patch_recovery(view, model, ids, 5, 1, every_position=True) == pytest.approx(1.0, abs=1e-12)
    part = metrics_circuits.patch_recovery(view, model, ids, 5, 1)
    assert -1.0 < part < 1.0


def test_representation_and_weight_metrics_closed_forms() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g, dtype=torch.float64)
    a = torch.randn(6, 6, generator=g, dtype=torch.float64) + 3 * torch.eye(6, dtype=torch.float64)
    assert metrics_repr.svcca(x, x @ a, keep=1.0) == pytest.approx(1.0, rel=1e-10)   # any invertible map
    assert scope.metrics_repr.cka.linear_cka(x, x @ a) < 0.999
    q = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))[0]
    assert metrics_repr.interference(q) == pytest.approx(0.0, abs=1e-20)
    assert metrics_repr.dims_per_feature(q).tolist() == pytest.approx([1.0] * 5)
    pair = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    assert metrics_repr.dims_per_feature(pair).tolist() == pytest.approx([0.5, 0.5])
    rng = np.random.default_rng(0)
    pareto = torch.tensor(rng.pareto(2.0, 20000) + 1.0)      # density ~ l^-3
    assert metrics_repr.powerlaw_alpha(pareto) == pytest.approx(3.0, rel=0.05)
    onehot, flat_row = torch.tensor([[0.0, 0, 3, 0]]), torch.ones(1, 4)
    assert float(metrics_repr.hoyer(onehot)[0]) == pytest.approx(1.0)
    assert float(metrics_repr.hoyer(flat_row)[0]) == pytest.approx(0.0, abs=1e-12)
