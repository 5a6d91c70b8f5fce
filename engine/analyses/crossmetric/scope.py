"""A metric registry over any torch.nn.Module: metrics declare what they need, one pass computes them all.

    from engine.analyses.crossmetric.scope import scope, REGISTRY
    report = scope(model, loss_fn, batches, metrics=["loss", "hessian_trace", ...])

`model` is any nn.Module (or an import path "package.module:factory" that returns one), `loss_fn(model_out,
batch) -> scalar` and `batches` an iterable of (inputs, targets) pairs (a DataLoader works). Every batch
is seen once; on it the scope builds only what the requested metrics declare in `needs`:

    activations   outputs of every leaf module with parameters (forward hooks), concatenated over batches
    grads         the flat gradient of the batch loss
    per_sample    flat per-example gradients (torch.func.vmap over grad; the model must be batch-agnostic)
    hvp           a Hessian-vector product at this batch (forward-over-reverse, SDPA pinned to math)

so all metrics see the same weights and the same batches (the seed's "identical conditions"). Each
metric folds its per-batch values into one number; results are means over batches unless the metric
says otherwise. Each registered metric has a ground-truth test in tests/test_xmetric_scope.py.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from engine.analyses.crossmetric import cka, curvature, flat

NEEDS = ("activations", "grads", "per_sample", "hvp")


@dataclass
class Batch:
    """What one pass over one batch provides (only the parts some requested metric needs)."""
    model: nn.Module
    inputs: Tensor
    targets: Tensor
    loss: float
    theta: Tensor
    loss_of_flat: Callable[[Tensor], Tensor]
    grads: Tensor | None = None
    per_sample: Tensor | None = None
    hvp: Callable[[Tensor], Tensor] | None = None
    activations: dict[str, Tensor] = field(default_factory=dict)
    gen: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))


@dataclass(frozen=True)
class Metric:
    name: str
    needs: frozenset[str]
    compute: Callable[[Batch], float]
    doc: str


REGISTRY: dict[str, Metric] = {}


def register(name: str, needs: Iterable[str], doc: str) -> Callable[[Callable[[Batch], float]], Callable[[Batch], float]]:
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"metric {name}: unknown needs {sorted(unknown)}; known: {NEEDS}")

    def deco(fn: Callable[[Batch], float]) -> Callable[[Batch], float]:
        REGISTRY[name] = Metric(name, frozenset(needs), fn, doc)
        return fn

    return deco


def effective_rank(x: Tensor) -> float:
    """exp of the entropy of the normalised singular values (Roy & Vetterli, 2007)."""
    s = torch.linalg.svdvals(x.reshape(x.shape[0], -1).to(torch.float64))
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@register("loss", (), "mean loss")
def _loss(b: Batch) -> float:
    return b.loss


@register("grad_norm", ("grads",), "||g||_2 of the batch loss")
def _grad_norm(b: Batch) -> float:
    assert b.grads is not None
    return float(b.grads.norm())


@register("fisher_trace_empirical", ("per_sample",), "tr of the empirical Fisher: mean_i ||g_i||^2")
def _fisher_trace(b: Batch) -> float:
    assert b.per_sample is not None
    return float(b.per_sample.square().sum(1).mean())


@register("gradient_noise_scale", ("per_sample",), "tr(Cov g_i) / ||mean g_i||^2 (McCandlish et al. simple B)")
def _noise_scale(b: Batch) -> float:
    assert b.per_sample is not None
    g = b.per_sample
    mean = g.mean(0)
    return float(((g - mean).square().sum(1).mean()) / mean.square().sum())


@register("hessian_trace", ("hvp",), "Hutchinson trace of the loss Hessian, 64 Rademacher probes")
def _h_trace(b: Batch) -> float:
    assert b.hvp is not None
    samples, _ = curvature.hutchinson(b.hvp, b.theta, 64, b.gen, block=16)
    return float(samples.mean())


@register("hessian_top_eig", ("hvp",), "largest Hessian eigenvalue, 30 Lanczos steps")
def _h_top(b: Batch) -> float:
    assert b.hvp is not None
    return float(curvature.lanczos(b.hvp, b.theta, b.gen, m=30)[0])


@register("sam_sharpness", ("grads",), "L(theta + rho g/||g||) - L(theta), rho = 0.05 (first-order SAM ascent)")
def _sam(b: Batch) -> float:
    assert b.grads is not None
    with torch.no_grad(), curvature.math_attention():
        up = b.loss_of_flat(b.theta + 0.05 * b.grads / b.grads.norm().clamp_min(1e-30))
    return float(up) - b.loss


@register("activation_effective_rank", ("activations",), "mean effective rank of every hooked module's output")
def _act_erank(b: Batch) -> float:
    ranks = [effective_rank(a.reshape(-1, a.shape[-1])) for a in b.activations.values()]
    return float(sum(ranks) / len(ranks))


@register("cka_first_last", ("activations",), "linear CKA between the first and last hooked outputs")
def _cka(b: Batch) -> float:
    acts = list(b.activations.values())
    first, last = acts[0].reshape(-1, acts[0].shape[-1]), acts[-1].reshape(-1, acts[-1].shape[-1])
    return cka.linear_cka(first, last)


@register("weight_stable_rank", (), "mean ||W||_F^2 / ||W||_2^2 over weight matrices")
def _w_srank(b: Batch) -> float:
    vals = [float(p.detach().square().sum() / torch.linalg.matrix_norm(p.detach().double(), ord=2) ** 2)
            for p in b.model.parameters() if p.ndim == 2]
    return float(sum(vals) / len(vals))


def _resolve(model: nn.Module | str) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    module, _, attr = model.partition(":")
    if not attr:
        raise ValueError(f"model path {model!r} must look like 'package.module:factory'")
    obj = getattr(importlib.import_module(module), attr)
    built = obj() if callable(obj) and not isinstance(obj, nn.Module) else obj
    if not isinstance(built, nn.Module):
        raise TypeError(f"{model} gave a {type(built).__name__}, not a torch.nn.Module")
    return built


def scope(model: nn.Module | str, loss_fn: Callable[[Tensor, Tensor], Tensor], batches: Iterable[Any],
          metrics: Iterable[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """{metric: mean over batches, "n_metrics", "metrics", "n_batches"} for every requested metric."""
    model = _resolve(model)
    names = list(REGISTRY) if metrics is None else list(metrics)
    missing = [n for n in names if n not in REGISTRY]
    if missing:
        raise KeyError(f"unknown metrics {missing}; registered: {sorted(REGISTRY)}")
    needs = set().union(*(REGISTRY[n].needs for n in names)) if names else set()
    template = flat.param_dict(model)
    buffers = dict(model.named_buffers())
    gen = torch.Generator().manual_seed(seed)
    sums: dict[str, float] = dict.fromkeys(names, 0.0)
    n_batches = 0
    for inputs, targets in batches:
        def f(theta: Tensor, x: Tensor = inputs, y: Tensor = targets) -> Tensor:
            return loss_fn(functional_call(model, {**flat.unflatten(theta, template), **buffers}, (x,)), y)

        theta = flat.flatten(template)
        acts: dict[str, Tensor] = {}
        hooks = []
        if "activations" in needs:
            for mod_name, mod in model.named_modules():
                if not list(mod.children()) and any(True for _ in mod.parameters(recurse=False)):
                    hooks.append(mod.register_forward_hook(
                        lambda _m, _i, out, key=mod_name, store=acts: store.__setitem__(key, out.detach())))
        with curvature.math_attention():
            if "grads" in needs:
                th = theta.clone().requires_grad_()
                loss_t = f(th)
                (g,) = torch.autograd.grad(loss_t, th)
                loss = float(loss_t.detach())
            else:
                with torch.no_grad():
                    loss = float(f(theta))
                g = None
        for h in hooks:
            h.remove()
        per_sample = None
        if "per_sample" in needs:
            def one(theta_: Tensor, x: Tensor, y: Tensor) -> Tensor:
                return f(theta_, x[None], y[None])
            with curvature.math_attention():
                per_sample = vmap(grad(one), in_dims=(None, 0, 0))(theta, inputs, targets)
        batch = Batch(model=model, inputs=inputs, targets=targets, loss=loss, theta=theta, loss_of_flat=f,
                      grads=g, per_sample=per_sample, hvp=curvature.HVP(f, theta) if "hvp" in needs else None,
                      activations=acts, gen=gen)
        for n in names:
            sums[n] += REGISTRY[n].compute(batch)
        n_batches += 1
    if n_batches == 0:
        raise ValueError("scope got no batches")
    return {**{n: sums[n] / n_batches for n in names}, "n_metrics": len(names), "metrics": names,
            "n_batches": n_batches}
