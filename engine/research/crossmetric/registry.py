"""The metric registry: what a metric needs, how it folds over batches, which models it applies to.

A metric is a function `Batch -> float` registered with

    @register("name", needs=("per_sample",), doc="...", applies=lambda view: ..., reduce="mean")

`needs` names what the scope must build for the batch (see NEEDS); the scope builds the union of
the requested metrics' needs once per batch, so every metric reads the same forward/backward.
`reduce` is "mean" (average of the per-batch values) or "last" (a streaming metric that keeps
its own state in `batch.state` and reports its value after the final batch). `applies(view)`
says whether the metric makes sense for a model (e.g. induction scores need a transformer view);
a metric that does not apply is listed under `skipped` with its reason instead of giving NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

NEEDS = ("activations", "grads", "per_sample", "hvp", "attention", "layer_io", "residuals")

# Defaults of the knobs metrics read from `batch.opts`; scope.run(..., options={...}) overrides them.
DEFAULT_OPTIONS: dict[str, Any] = {
    "hutchinson_probes": 32,     # Rademacher probes for Hessian/GGN traces
    "hutchpp_matvecs": 30,       # Hutch++ budget (a third sketches, a third projects, a third probes)
    "lanczos_steps": 20,         # Lanczos steps (top / second / smallest eigenvalue and every SLQ probe)
    "slq_probes": 3,             # stochastic Lanczos quadrature probe vectors (run in lockstep with the above)
    "fisher_mc": 2,              # label draws from the model for the true Fisher
    "ema_decay": 0.9,            # EMA Fisher: weight of the past per batch
    "sam_rho": 0.05,             # SAM ascent radius
    "slice_alpha": 0.05,         # loss-landscape slice half-width (filter-normalised units)
    "ig_steps": 16,              # Gauss-Legendre nodes for integrated gradients
    "induction_len": 6,          # length of the random block that is repeated for induction scores
    "kfac_damping": 1e-3,        # added to every Kronecker eigenvalue product in log det
    "group_top_share": 0.25,     # grouped Fisher: share of mass in this top fraction of groups
}


@dataclass
class Batch:
    """Everything one pass over one batch provides (only the parts some requested metric needs)."""
    model: nn.Module
    inputs: Tensor
    targets: Tensor
    output: Tensor                        # model(inputs), detached
    loss: float
    theta: Tensor                         # flat parameters
    loss_of_flat: Callable[[Tensor], Tensor]
    loss_with: Callable[[Tensor, Tensor, Tensor], Tensor]   # (theta, inputs, targets) -> loss
    output_of: Callable[[Tensor], Tensor] | None = None     # theta -> model(inputs)
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None
    view: Any = None                      # views.TransformerView or None
    tasks: Tensor | None = None           # per-example task ids when the batch gives them
    grads: Tensor | None = None
    per_sample: Tensor | None = None      # (n, P)
    per_sample_fn: Callable[[Tensor], Tensor] | None = None  # targets -> (n, P) per-example grads
    hvp: Callable[[Tensor], Tensor] | None = None
    activations: dict[str, Tensor] = field(default_factory=dict)
    attention: list[Tensor] = field(default_factory=list)    # (B, H, T, T) per attention layer
    residuals: list[Tensor] = field(default_factory=list)    # residual stream after each block (view)
    layer_io: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)  # Linear: (inputs, out grads)
    gen: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))
    opts: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPTIONS))
    state: dict[str, dict[str, Any]] = field(default_factory=dict)   # per-metric, survives batches
    cache: dict[str, Any] = field(default_factory=dict)              # per-batch shared intermediates
    details: dict[str, Any] = field(default_factory=dict)            # non-scalar outputs (survive batches)

    def cached(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = fn()
        return self.cache[key]


def always(_view: Any) -> bool:
    return True


@dataclass(frozen=True)
class Metric:
    name: str
    needs: frozenset[str]
    compute: Callable[[Batch], float]
    doc: str
    family: str
    reduce: str = "mean"
    applies: Callable[[Any], bool] = always
    requires: str = ""        # words for `skipped` when applies() is false


REGISTRY: dict[str, Metric] = {}


def register(name: str, needs: Iterable[str], doc: str, family: str = "misc", reduce: str = "mean",
             applies: Callable[[Any], bool] = always,
             requires: str = "") -> Callable[[Callable[[Batch], float]], Callable[[Batch], float]]:
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"metric {name}: unknown needs {sorted(unknown)}; known: {NEEDS}")
    if reduce not in ("mean", "last"):
        raise ValueError(f"metric {name}: reduce must be 'mean' or 'last', not {reduce!r}")

    def deco(fn: Callable[[Batch], float]) -> Callable[[Batch], float]:
        if name in REGISTRY and REGISTRY[name].compute is not fn:
            raise ValueError(f"metric {name!r} registered twice")
        REGISTRY[name] = Metric(name, frozenset(needs), fn, doc, family, reduce, applies, requires)
        return fn

    return deco


def is_transformer(view: Any) -> bool:
    return view is not None


def has_attention(view: Any) -> bool:
    return view is not None and view.attention_capturable


def has_heads(view: Any) -> bool:
    return view is not None and view.head_weights() is not None
