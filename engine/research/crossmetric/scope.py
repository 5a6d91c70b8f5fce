"""The metric scope: every registered metric of any torch.nn.Module, computed in one pass over the same batches.

    from engine.research.crossmetric import scope
    report = scope.run(model, batches, loss_fn, metrics=["loss", "hessian_trace", ...])
    report = scope.run("mypkg.models:make_model", "mypkg.data:loader", loss_fn)   # import paths

`model` is an nn.Module or an import path "package.module:factory" (a module-level nn.Module or a
zero-argument callable returning one). `batches` is an iterable of (inputs, targets) or
(inputs, targets, task_ids) — a DataLoader works — or an import path to one (or to a zero-argument
callable returning one). `loss_fn(model(inputs), targets)` returns the batch's mean loss.

For each batch the scope builds, once, only what the requested metrics declare in `needs`
(registry.NEEDS): forward hooks for activations, attention patterns (AttentionProbe modules and
intercepted scaled_dot_product_attention calls) and Linear-layer inputs/output gradients (K-FAC),
all from the SAME forward and backward that give the gradient; per-example gradients by
torch.func.vmap; Hessian-vector products by reverse-over-reverse (curvature.HVP). Every metric then reads that
batch and those weights (the seed's "identical conditions"). Second-order work runs with SDPA
pinned to its math backend, so fused-attention models work. Metrics that need a transformer view
(views.view_of) report themselves under `skipped` on other models.

The report: {metric: value} (the mean over batches, or the final value of streaming metrics),
"per_batch" {metric: [value per batch]}, "n_metrics", "metrics", "skipped" {metric: reason},
"details" (non-scalar outputs such as the grouped Fisher for LoRA placement), "n_batches", "passes".
Each registered metric has a ground-truth test in tests/test_xmetric_scope*.py / test_crossmetric_*.py.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from engine.research.crossmetric import curvature, flat, views
from engine.research.crossmetric.registry import DEFAULT_OPTIONS, NEEDS, REGISTRY, Batch, Metric, register

# Importing the metric modules registers their metrics.
from engine.research.crossmetric import metrics_base  # noqa: E402,F401  isort: skip
from engine.research.crossmetric import metrics_curvature  # noqa: E402,F401  isort: skip
from engine.research.crossmetric import metrics_circuits  # noqa: E402,F401  isort: skip
from engine.research.crossmetric import metrics_repr  # noqa: E402,F401  isort: skip
from engine.research.crossmetric.metrics_base import effective_rank  # noqa: E402  isort: skip

__all__ = ["NEEDS", "REGISTRY", "Batch", "Metric", "effective_rank", "register", "run", "scope", "table_of"]


def _resolve(obj: Any, kind: str) -> Any:
    if not isinstance(obj, str):
        return obj
    module, _, attr = obj.partition(":")
    if not attr:
        raise ValueError(f"{kind} path {obj!r} must look like 'package.module:factory'")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{kind} path {obj!r}: {e}") from e
    if kind == "model":
        built = found() if callable(found) and not isinstance(found, nn.Module) else found
        if not isinstance(built, nn.Module):
            raise TypeError(f"{obj} gave a {type(built).__name__}, not a torch.nn.Module")
        return built
    return found() if callable(found) and not hasattr(found, "__iter__") else found


def _hook_leaves(model: nn.Module, acts: dict[str, Tensor]) -> list[Any]:
    hooks = []
    for name, mod in model.named_modules():
        if not list(mod.children()) and any(True for _ in mod.parameters(recurse=False)):
            def hook(_m: nn.Module, _i: Any, out: Any, key: str = name) -> None:
                t = out[0] if isinstance(out, tuple) else out
                if isinstance(t, Tensor):
                    acts[key] = t.detach()
            hooks.append(mod.register_forward_hook(hook))
    return hooks


def _hook_linear_io(model: nn.Module, io: dict[str, list[Tensor | None]]) -> list[Any]:
    """Inputs of every nn.Linear and, once backward runs, the gradient of the loss at its output."""
    hooks = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            def hook(_m: nn.Module, inp: tuple[Tensor, ...], out: Tensor, key: str = name) -> None:
                slot: list[Tensor | None] = [inp[0].detach(), None]
                io[key] = slot
                if out.requires_grad:
                    out.register_hook(lambda g: slot.__setitem__(1, g.detach()))
            hooks.append(mod.register_forward_hook(hook))
    return hooks


def _split_batch(item: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    if isinstance(item, dict):
        return item["inputs"], item["targets"], item.get("tasks")
    if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
        raise ValueError("each batch must be (inputs, targets) or (inputs, targets, task_ids), "
                         f"got {type(item).__name__}")
    return item[0], item[1], item[2] if len(item) == 3 else None


def run(model: nn.Module | str, batches: Iterable[Any] | str, loss_fn: Callable[[Tensor, Tensor], Tensor],
        metrics: Iterable[str] | None = None, seed: int = 0, options: dict[str, Any] | None = None,
        view: views.TransformerView | None = None) -> dict[str, Any]:
    """Compute the requested metrics (default: every one that applies) on every batch, in one pass each."""
    model = _resolve(model, "model")
    batches = _resolve(batches, "batches")
    opts = {**DEFAULT_OPTIONS, **(options or {})}
    unknown_opts = set(options or {}) - set(DEFAULT_OPTIONS)
    if unknown_opts:
        raise KeyError(f"unknown scope options {sorted(unknown_opts)}; known: {sorted(DEFAULT_OPTIONS)}")
    view = view if view is not None else views.view_of(model)
    asked = list(REGISTRY) if metrics is None else list(metrics)
    missing = [n for n in asked if n not in REGISTRY]
    if missing:
        raise KeyError(f"unknown metrics {missing}; registered: {sorted(REGISTRY)}")
    skipped = {n: REGISTRY[n].requires or "does not apply to this model" for n in asked
               if not REGISTRY[n].applies(view)}
    names = [n for n in asked if n not in skipped]
    needs: set[str] = set().union(*(REGISTRY[n].needs for n in names)) if names else set()
    template = flat.param_dict(model)
    buffers = dict(model.named_buffers())
    gen = torch.Generator().manual_seed(seed)
    per_batch: dict[str, list[float]] = {n: [] for n in names}
    state: dict[str, dict[str, Any]] = {n: {} for n in names}
    details: dict[str, Any] = {}
    passes = {"forward_backward": 0, "per_sample_vmaps": 0}
    seconds = dict.fromkeys(names, 0.0)   # shared intermediates are charged to the first metric that builds them
    n_batches = 0
    for item in batches:
        inputs, targets, tasks = _split_batch(item)

        def loss_with(theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
            return loss_fn(functional_call(model, {**flat.unflatten(theta, template), **buffers}, (x,)), y)

        def f(theta: Tensor, x: Tensor = inputs, y: Tensor = targets) -> Tensor:
            return loss_with(theta, x, y)

        theta = flat.flatten(template)
        acts: dict[str, Tensor] = {}
        atts: list[Tensor] = []
        res: list[Tensor] = []
        io: dict[str, list[Tensor | None]] = {}
        hooks = _hook_leaves(model, acts) if "activations" in needs else []
        hooks += _hook_linear_io(model, io) if "layer_io" in needs else []
        want_grad = bool(needs & {"grads", "layer_io"})
        try:
            with curvature.math_attention():
                ctx = views.capture_attention(model, atts) if "attention" in needs else _null()
                ctx2 = view.residuals(res) if "residuals" in needs and view is not None else _null()
                with ctx, ctx2:
                    th = theta.clone().requires_grad_(want_grad)
                    out = functional_call(model, {**flat.unflatten(th, template), **buffers}, (inputs,))
                    loss_t = loss_fn(out, targets)
                g = torch.autograd.grad(loss_t, th)[0] if want_grad else None
        finally:
            for h in hooks:
                h.remove()
        passes["forward_backward"] += 1
        per_sample_fn = None
        if "per_sample" in needs:
            def per_sample_fn(y: Tensor, x: Tensor = inputs) -> Tensor:
                def one(theta_: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
                    return loss_with(theta_, xi[None], yi[None])
                passes["per_sample_vmaps"] += 1
                with curvature.math_attention():
                    return vmap(grad(one), in_dims=(None, 0, 0))(theta, x, y).detach()
        batch = Batch(
            model=model, inputs=inputs, targets=targets, output=out.detach(), loss=float(loss_t.detach()),
            theta=theta, loss_of_flat=f, loss_with=loss_with, view=view, loss_fn=loss_fn,
            output_of=lambda t, x=inputs: functional_call(model, {**flat.unflatten(t, template), **buffers}, (x,)), tasks=tasks, grads=g,
            per_sample=per_sample_fn(targets) if per_sample_fn else None, per_sample_fn=per_sample_fn,
            hvp=curvature.HVP(f, theta) if "hvp" in needs else None, activations=acts, attention=atts, residuals=res,
            layer_io={k: (a, gr) for k, (a, gr) in io.items() if a is not None and gr is not None},
            gen=gen, opts=opts, details=details)
        for n in names:
            batch.state = state[n]
            t0 = time.perf_counter()
            per_batch[n].append(float(REGISTRY[n].compute(batch)))
            seconds[n] += time.perf_counter() - t0
        n_batches += 1
    if n_batches == 0:
        raise ValueError("scope got no batches")
    values = {n: (per_batch[n][-1] if REGISTRY[n].reduce == "last" else sum(per_batch[n]) / n_batches)
              for n in names}
    return {**values, "n_metrics": len(names), "metrics": names, "per_batch": per_batch, "skipped": skipped,
            "details": details, "n_batches": n_batches, "passes": passes, "seconds": seconds,
            "non_finite": [n for n in names if not math.isfinite(values[n])]}


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def scope(model: nn.Module | str, loss_fn: Callable[[Tensor, Tensor], Tensor], batches: Iterable[Any],
          metrics: Iterable[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """The earlier argument order (model, loss_fn, batches); same as run()."""
    return run(model, batches, loss_fn, metrics=metrics, seed=seed)


def table_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric: name, family, needs, value, doc (for a README table or a CSV)."""
    return [{"metric": n, "family": REGISTRY[n].family, "needs": ",".join(sorted(REGISTRY[n].needs)) or "-",
             "value": report[n], "doc": REGISTRY[n].doc} for n in report["metrics"]]
