"""Problems small enough to have an exact answer, and the curvature estimators measured against it.

The xmetric-validate experiment checks each estimator where the truth is known. `blob_mlp` fits a
tanh MLP on four Gaussian blobs in float64, small enough for `curvature.exact_hessian`;
`curvature_against_exact` runs every Hessian-vector-product estimator (Hutchinson trace and
diagonal, power iteration, Lanczos) on it and returns their errors against the exact Hessian, plus
the running Hutchinson errors the experiment plots. Generator draws happen in a fixed order, so
the numbers depend only on the generator's state on entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.research.crossmetric import curvature, flat
from engine.research.crossmetric.fit import full_batch
from engine.research.crossmetric.models import MLP

F64 = torch.float64


def rel(a: Tensor, b: Tensor) -> float:
    """Relative error ||a - b|| / ||b||."""
    return float((a - b).norm() / b.norm())


def blob_mlp(n: int, hidden: list[int], steps: int, gen: torch.Generator, dev: str) -> tuple[MLP, Tensor, Tensor]:
    """Four Gaussian blobs in 6-D, a tanh MLP fitted for a few dozen full-batch Adam steps (float64)."""
    k = 4
    centres = 1.5 * torch.randn(k, 6, generator=gen, dtype=F64)
    y = torch.randint(0, k, (n,), generator=gen)
    x = (centres[y] + torch.randn(n, 6, generator=gen, dtype=F64)).to(dev)
    model = MLP([6, *hidden, k]).to(dev, F64)
    yd = y.to(dev)
    full_batch(torch.optim.Adam(model.parameters(), lr=0.02), lambda: F.cross_entropy(model(x), yd), steps)
    return model, x, yd


@dataclass
class CurvatureCheck:
    """The facts (result keys) and the series the experiment logs."""

    facts: dict[str, Any]
    hutchinson: list[tuple[str, int, float]] = field(default_factory=list)   # (probe kind, n probes, |rel err|)
    spectrum: list[tuple[float, float]] = field(default_factory=list)       # (exact, lanczos) for the top 3


def _running_errors(samples: Tensor, trace: float, n_probes: int) -> list[tuple[int, float]]:
    """|running mean - trace| / |trace| at about 12 probe counts from 4 to n_probes."""
    run = torch.cumsum(samples, 0) / torch.arange(1, len(samples) + 1, device=samples.device)
    return [(int(m), abs(float(run[m - 1]) - trace) / abs(trace))
            for m in np.unique(np.geomspace(4, n_probes, 12).astype(int))]


def curvature_against_exact(model: MLP, x: Tensor, y: Tensor, gen: torch.Generator, *, probes: int,
                            power_iters: int, lanczos_steps: int, seed: int,
                            uniform_probes: bool = False) -> CurvatureCheck:
    """Every HVP-based estimator on the MLP's cross-entropy against its exact Hessian.

    `uniform_probes` is the fault: Hutchinson with U(0,1) probes, whose E[vv^T] is not I. The
    negated power iteration gets its own generator (seed + 1) so later users of `gen` see the
    same stream whether or not it ran."""
    template = flat.param_dict(model)
    f = flat.loss_of_flat(model, template, lambda m, p: F.cross_entropy(flat.call(m, p, x), y))
    theta = flat.flatten(template)
    h = curvature.exact_hessian(f, theta)
    h = (h + h.T) / 2
    eig = torch.linalg.eigvalsh(h)
    trace = float(h.trace())
    hvp = curvature.HVP(f, theta)

    v = curvature.probes("gaussian", 1, theta.numel(), gen, theta)[0]
    exact_hv = h @ v
    hvp_err = max(rel(hvp(v), exact_hv), rel(curvature.hvp_double_backward(f, theta, v), exact_hv))

    kind = "uniform" if uniform_probes else "rademacher"
    samples, diag = curvature.hutchinson(hvp, theta, probes, gen, kind)
    est = float(samples.mean())
    std = math.sqrt(curvature.hutchinson_variance(h, "rademacher") / probes)
    gauss, _ = curvature.hutchinson(hvp, theta, probes, gen, "gaussian")
    series = [(name, m, e) for name, s in ((kind, samples), ("gaussian", gauss))
              for m, e in _running_errors(s, trace, probes)]
    series += [("rademacher theory (1 sd)", int(m), math.sqrt(curvature.hutchinson_variance(h) / m) / abs(trace))
               for m in np.unique(np.geomspace(4, probes, 12).astype(int))]

    top = eig[eig.abs().argmax()]
    lam, iters = curvature.power_iteration(hvp, theta, gen, iters=power_iters)
    ritz = curvature.lanczos(hvp, theta, gen, m=lanczos_steps)
    top3 = eig.flip(0)[:3]
    own_gen = torch.Generator(gen.device).manual_seed(seed + 1)  # leaves gen's stream to the later sections
    lam_neg, _ = curvature.power_iteration(lambda u: -hvp(u), theta, own_gen, iters=power_iters)
    block = h.diagonal().abs().topk(min(10, theta.numel())).indices
    h_block = h[block][:, block]
    var_closed, var_enum = curvature.hutchinson_variance(h_block), curvature.rademacher_variance_enumerated(h_block)
    ones = torch.ones_like(theta)
    facts = {
        "n_params_mlp": theta.numel(),
        "hvp_rel_err": hvp_err,
        "trace_exact": trace,
        "trace_hutchinson": est,
        "trace_rel_err": abs(est - trace) / abs(trace),
        "trace_z": abs(est - trace) / std,
        "trace_gaussian_rel_err": abs(float(gauss.mean()) - trace) / abs(trace),
        "uniform_probe_expectation": float(ones @ h @ ones) / 4 + trace / 12,
        "diag_rel_err": rel(diag, h.diagonal()),
        "diag_sum_vs_trace_samples": abs(float(diag.sum()) - est) / abs(est),
        "rademacher_variance_rel_err": abs(var_closed - var_enum) / var_enum,
        "top_eig_exact": float(top),
        "top_eig_power": lam,
        "power_rel_err": abs(lam - float(top)) / abs(float(top)),
        "power_iters_used": iters,
        "power_negated_rel_err": abs(lam_neg + float(top)) / abs(float(top)),
        "lanczos_top3_rel_err": float(((ritz[:3].to(top3) - top3).abs() / top3.abs()).max()),
        "min_eig_exact": float(eig[0]),
    }
    return CurvatureCheck(facts, series, [(float(top3[i]), float(ritz[i])) for i in range(3)])
