"""The metric registry (crossmetric.scope) against ground truth on a small float64 MLP, and on the
project's TransformerLM (fused SDPA) given as an import path with a plain list of batches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.research.crossmetric import cka, curvature, flat
from engine.research.crossmetric.models import MLP
from engine.research.crossmetric.scope import REGISTRY, effective_rank, scope


def small_mlp() -> MLP:
    torch.manual_seed(0)
    return MLP([4, 6, 3]).double()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(24, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (24,), generator=g)


def test_every_metric_against_ground_truth_on_an_mlp() -> None:
    model, (x, y) = small_mlp(), _data()
    from engine.research.crossmetric.scope import run
    out = run("tests.test_xmetric_scope:small_mlp", [(x, y)], F.cross_entropy, options={"lanczos_steps": 60,
                                                                                      "hutchinson_probes": 64})
    assert out["n_metrics"] + len(out["skipped"]) == len(REGISTRY) and out["n_batches"] == 1
    params = list(model.parameters())
    loss = F.cross_entropy(model(x), y)
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, params)])
    assert out["loss"] == pytest.approx(float(loss), rel=1e-12)
    assert out["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-10)
    per = torch.stack([torch.cat([t.reshape(-1) for t in torch.autograd.grad(
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), params)]) for i in range(len(x))])   # loop, not vmap
    assert out["fisher_trace_empirical"] == pytest.approx(float(per.square().sum(1).mean()), rel=1e-10)
    noise = float((per - per.mean(0)).square().sum(1).mean() / per.mean(0).square().sum())
    assert out["gradient_noise_scale"] == pytest.approx(noise, rel=1e-10)
    template = flat.param_dict(model)
    f = flat.loss_of_flat(model, template, lambda m, p: F.cross_entropy(flat.call(m, p, x), y))
    h = curvature.exact_hessian(f, flat.flatten(template))
    std = math.sqrt(curvature.hutchinson_variance(h) / 64)
    assert abs(out["hessian_trace"] - float(h.trace())) < 4 * std
    assert out["hessian_top_eig"] == pytest.approx(float(torch.linalg.eigvalsh(h)[-1]), rel=1e-6)
    theta = flat.flatten(template)
    sam = float(f(theta + 0.05 * g / g.norm())) - float(loss)
    assert out["sam_sharpness"] == pytest.approx(sam, rel=1e-9) and sam > 0
    first, last = model.layers[0](x).detach(), model(x).detach()
    assert out["cka_first_last"] == pytest.approx(cka.linear_cka(first, last), rel=1e-10)
    assert out["activation_effective_rank"] == pytest.approx((effective_rank(first) + effective_rank(last)) / 2)
    srank = [float(w.square().sum() / torch.linalg.matrix_norm(w.detach(), ord=2) ** 2)
             for w in (model.layers[0].weight, model.layers[1].weight)]
    assert out["weight_stable_rank"] == pytest.approx(sum(srank) / 2, rel=1e-10)


def test_effective_rank_closed_form() -> None:
    q = torch.linalg.qr(torch.randn(10, 10, generator=torch.Generator().manual_seed(3), dtype=torch.float64))[0]
    assert effective_rank(q[:, :4] * 2.0) == pytest.approx(4.0, rel=1e-10)        # 4 equal singular values
    s = torch.tensor([3.0, 1.0], dtype=torch.float64)
    p = s / s.sum()
    assert effective_rank(q[:, :2] * s) == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-10)


def test_scope_on_transformer_lm_with_fused_attention() -> None:
    torch.manual_seed(0)
    from engine.lm.models.attention import TransformerLM
    model = TransformerLM(6, 5, d_model=8, n_layers=1, n_heads=2, mlp_ratio=1)
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(0, 6, (4, 6), generator=g) for _ in range(2)]
    batches = [(s[:, :-1], s[:, 1:]) for s in seqs]

    def lm_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    out = scope(model, lm_loss, batches, metrics=["loss", "grad_norm", "hessian_top_eig", "sam_sharpness",
                                                  "fisher_trace_empirical", "activation_effective_rank"])
    assert out["n_batches"] == 2 and out["n_metrics"] == 6
    assert all(math.isfinite(out[m]) for m in out["metrics"])
    assert out["loss"] > 1.0 and out["hessian_top_eig"] > 0


def test_unknown_metric_and_bad_path_fail_clearly() -> None:
    with pytest.raises(KeyError, match="unknown metrics"):
        scope(small_mlp(), F.cross_entropy, [_data()], metrics=["nope"])
    with pytest.raises(ValueError, match="package.module:factory"):
        scope("engine.lm.models.attention", F.cross_entropy, [_data()])
