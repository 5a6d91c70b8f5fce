"""Curvature metrics: Hessian trace (Hutchinson, Hutch++), Lanczos eigenvalues, SLQ spectral density,
GGN and K-FAC, SAM sharpness and loss-landscape slices.

All Hessian products go through the batch's HVP (forward-over-reverse, SDPA pinned to math).
    ggn_trace          tr(J^T H_z J): the Gauss-Newton part of the Hessian (z = model output, H_z the
                       loss Hessian in z). For softmax cross-entropy it IS the true Fisher of the batch loss.
    kfac_trace         sum over nn.Linear layers of tr(A) tr(G), A = E[a a^T] (inputs, 1 appended for a
                       bias), G = E[d d^T] (per-row output gradients): the trace of K-FAC's A (x) G blocks.
                       With one row per batch it is the exact Fisher block of that row.
    kfac_logdet        sum over layers of sum_ij log(a_i g_j + damping), a_i, g_j eigenvalues of A, G
                       (log det of the damped Kronecker block, never formed).
    landscape_*        along a filter-normalised random direction d (each row of each weight rescaled
                       to that row's norm, Li et al. 2018): the second difference / (alpha^2 ||d||^2)
                       and the largest rise of the loss over a 9-point slice in [-alpha, alpha].
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import grad, vjp, vmap

from engine.research.crossmetric import curvature, flat
from engine.research.crossmetric.registry import Batch, register


@register("hessian_trace", ("hvp",), "Hutchinson trace of the loss Hessian (hutchinson_probes Rademacher probes)",
          "curvature")
def _h_trace(b: Batch) -> float:
    assert b.hvp is not None
    samples, _ = curvature.hutchinson(b.hvp, b.theta, int(b.opts["hutchinson_probes"]), b.gen, block=16)
    return float(samples.mean())


@register("hessian_trace_hutchpp", ("hvp",), "Hutch++ trace of the loss Hessian (hutchpp_matvecs products)",
          "curvature")
def _h_trace_pp(b: Batch) -> float:
    assert b.hvp is not None
    return curvature.hutchpp(b.hvp, b.theta, int(b.opts["hutchpp_matvecs"]), b.gen)


def _block(b: Batch) -> list[Tensor]:
    """One lockstep Lanczos run: a Gaussian start (for the extreme eigenvalues) and slq_probes Rademacher
    starts (for the SLQ density), lanczos_steps batched HVPs in all."""
    assert b.hvp is not None

    def build() -> list[Tensor]:
        n = b.theta.numel()
        starts = torch.cat([curvature.probes("gaussian", 1, n, b.gen, b.theta),
                            curvature.probes("rademacher", int(b.opts["slq_probes"]), n, b.gen, b.theta)])
        return curvature.lanczos_tridiag_block(b.hvp, starts, int(b.opts["lanczos_steps"]))
    return b.cached("lanczos_block", build)  # type: ignore[no-any-return]


def _ritz(b: Batch) -> Tensor:
    return torch.linalg.eigvalsh(_block(b)[0]).flip(0)


@register("hessian_top_eig", ("hvp",), "largest Hessian eigenvalue (Lanczos, lanczos_steps steps)", "curvature")
def _h_top(b: Batch) -> float:
    return float(_ritz(b)[0])


@register("hessian_lambda2", ("hvp",), "second largest Hessian eigenvalue (same Lanczos run)", "curvature")
def _h_second(b: Batch) -> float:
    r = _ritz(b)
    return float(r[1]) if len(r) > 1 else float("nan")


@register("hessian_min_eig", ("hvp",), "smallest Hessian eigenvalue (same Lanczos run; < 0: a saddle)",
          "curvature")
def _h_min(b: Batch) -> float:
    return float(_ritz(b)[-1])


def _slq(b: Batch) -> list[tuple[Tensor, Tensor]]:
    return b.cached("slq", lambda: curvature.slq_from_tridiag(_block(b)[1:]))


@register("slq_trace", ("hvp",), "tr H from stochastic Lanczos quadrature: n * mean_probe sum_k w_k theta_k",
          "spectrum")
def _slq_trace(b: Batch) -> float:
    q = _slq(b)
    b.details["slq_density"] = [{"nodes": n.tolist(), "weights": w.tolist()} for n, w in q]
    return b.theta.numel() * float(sum(float((w * n).sum()) for n, w in q) / len(q))


@register("slq_negative_mass", ("hvp",), "share of the SLQ spectral density below 0 (negative curvature)",
          "spectrum")
def _slq_neg(b: Batch) -> float:
    q = _slq(b)
    return float(sum(float(w[n < 0].sum()) for n, w in q) / len(q))


def ggn_vp(b: Batch, v: Tensor) -> Tensor:
    """G v = J^T H_z J v without forming J; v is (n,) or a block (k, n) (vmapped)."""
    assert b.output_of is not None and b.loss_fn is not None
    y, lf, out_of = b.targets, b.loss_fn, b.output_of

    def one(u: Tensor) -> Tensor:
        z, back = vjp(out_of, b.theta)
        # J u by the double-vjp trick (reverse mode only): J^T w is linear in w, so J u = d/dw <J^T w, u>
        ju = grad(lambda w: (back(w)[0] * u).sum())(torch.zeros_like(z))
        hz = grad(lambda zz: (grad(lambda z2: lf(z2, y))(zz) * ju).sum())(z)
        return back(hz)[0]

    with curvature.math_attention():
        return (one(v) if v.ndim == 1 else vmap(one)(v)).detach()


@register("ggn_trace", (), "Hutchinson trace of the generalised Gauss-Newton J^T H_z J (= true Fisher for "
          "softmax cross-entropy)", "curvature")
def _ggn(b: Batch) -> float:
    vs = curvature.probes("rademacher", int(b.opts["hutchinson_probes"]), b.theta.numel(), b.gen, b.theta)
    return float((vs * ggn_vp(b, vs)).sum(1).mean())


def _kfac_factors(b: Batch) -> list[tuple[Tensor, Tensor]]:
    def build() -> list[tuple[Tensor, Tensor]]:
        out = []
        for name, (a, g) in b.layer_io.items():
            a2, g2 = a.reshape(-1, a.shape[-1]).double(), g.reshape(-1, g.shape[-1]).double()
            rows = a2.shape[0]
            if getattr(b.model.get_submodule(name), "bias", None) is not None:
                a2 = torch.cat([a2, torch.ones(rows, 1, dtype=a2.dtype, device=a2.device)], 1)
            g2 = g2 * rows                      # the batch loss is a mean over rows: per-row gradients
            out.append((a2.T @ a2 / rows, g2.T @ g2 / rows))
        return out

    return b.cached("kfac", build)


@register("kfac_trace", ("layer_io",), "sum over Linear layers of tr(A) tr(G) (K-FAC, empirical labels)", "curvature",
          applies=lambda v: True)
def _kfac_trace(b: Batch) -> float:
    f = _kfac_factors(b)
    return float(sum(float(a.trace() * g.trace()) for a, g in f)) if f else float("nan")


@register("kfac_logdet", ("layer_io",), "sum over Linear layers of log det(A (x) G + damping I)", "curvature")
def _kfac_logdet(b: Batch) -> float:
    lam = float(b.opts["kfac_damping"])
    total = 0.0
    for a, g in _kfac_factors(b):
        ea, eg = torch.linalg.eigvalsh(a).clamp_min(0), torch.linalg.eigvalsh(g).clamp_min(0)
        total += float(torch.log(ea[:, None] * eg[None, :] + lam).sum())
    return total


@register("sam_sharpness", ("grads",), "L(theta + rho g/||g||) - L(theta) (first-order SAM ascent, rho = sam_rho)",
          "sharpness")
def _sam(b: Batch) -> float:
    assert b.grads is not None
    with torch.no_grad(), curvature.math_attention():
        up = b.loss_of_flat(b.theta + float(b.opts["sam_rho"]) * b.grads / b.grads.norm().clamp_min(1e-30))
    return float(up) - b.loss


def filter_normalised_direction(b: Batch) -> Tensor:
    """Random direction with each weight row (each vector parameter as a whole) scaled to that row's norm."""
    template = flat.param_dict(b.model)
    parts = []
    for p in template.values():
        d = torch.randn(p.shape, generator=b.gen, dtype=p.dtype).to(p.device)
        if p.ndim >= 2:
            rows, drows = p.reshape(p.shape[0], -1), d.reshape(p.shape[0], -1)
            d = (drows * rows.norm(dim=1, keepdim=True) / drows.norm(dim=1, keepdim=True).clamp_min(1e-30)).view_as(p)
        else:
            d = d * p.norm() / d.norm().clamp_min(1e-30)
        parts.append(d.reshape(-1))
    return torch.cat(parts)


def _direction(b: Batch) -> Tensor:
    return b.cached("direction", lambda: filter_normalised_direction(b))


@register("landscape_random_curvature", (), "(L(+a d) + L(-a d) - 2 L) / (a^2 ||d||^2) along a filter-normalised "
          "random direction d (a = slice_alpha)", "landscape")
def _slice_curv(b: Batch) -> float:
    d, a = _direction(b), float(b.opts["slice_alpha"])
    with torch.no_grad(), curvature.math_attention():
        up, down = float(b.loss_of_flat(b.theta + a * d)), float(b.loss_of_flat(b.theta - a * d))
    return (up + down - 2 * b.loss) / (a * a * float(d @ d))


@register("landscape_max_rise", (), "largest L(theta + t d) - L(theta) over 9 points t in [-a, a] (a 1-D slice)",
          "landscape")
def _slice_rise(b: Batch) -> float:
    d, a = _direction(b), float(b.opts["slice_alpha"])
    ts = torch.linspace(-a, a, 9).tolist()
    with torch.no_grad(), curvature.math_attention():
        vals = [float(b.loss_of_flat(b.theta + t * d)) - b.loss for t in ts]
    b.details.setdefault("landscape_slices", []).append({"t": ts, "rise": vals})
    return max(vals)


@register("landscape_grad_curvature", ("grads", "hvp"), "g^T H g / g^T g: curvature along the gradient", "landscape")
def _grad_curv(b: Batch) -> float:
    assert b.grads is not None and b.hvp is not None
    g = b.grads
    return float(g @ b.hvp(g) / (g @ g).clamp_min(1e-30))
