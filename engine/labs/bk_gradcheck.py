"""Experiment bk-gradcheck: is BK-Core right, and how wrong is the seed's hybrid gradient?

Forward: the O(N) scan against a dense inverse (small N) and a sequential loop (large N),
in complex128 and complex64. Backward: the exact O(N) VJP against the dense Jacobian
-G_ij G_ji and against central finite differences; the seed's hybrid (blend 0.5) and its
diagonal-only term (blend 0, "-G^2") against the exact one (cosine and relative error).
Plus torch.autograd.gradcheck on the core and on a ResNet-BK layer (N=16, d_model=8),
and the causality of the two feature kinds.

Faults: `hybrid_gradient` checks the hybrid gradient where the exact one should be;
`no_rescale` runs the large-N forward with raw minors (theta, phi), which overflow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from engine.core.run import Recorder
from engine.research.bk import core, native
from engine.research.bk.function import bk_features, bk_resolvent
from engine.research.bk.model import BKConfig, BKLayer
from engine.research.bk.reference import naive_minors_diag, sequential_diag


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def _cos(a: Tensor, b: Tensor) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-300))


def _dense_vjp(diag: Tensor, w: Tensor, z: complex, causal: bool) -> Tensor:
    """sum_i Re(w_i dG_ii/da_j) from dense inverses: dG_ii/da_j = -G_ij G_ji."""
    n = diag.shape[-1]
    t = torch.diag_embed(diag.to(torch.complex128) - z)
    ones = torch.ones(*diag.shape[:-1], n - 1, dtype=torch.complex128)
    t = t + torch.diag_embed(ones, 1) + torch.diag_embed(ones, -1)
    if not causal:
        inv = core.dense_inverse(t)
        return -(w.unsqueeze(-1) * inv * inv.transpose(-1, -2)).sum(-2).real
    out = torch.zeros_like(diag)
    for i in range(n):  # feature i is the last diagonal entry of the inverse of T[:i+1, :i+1]
        inv = core.dense_inverse(t[..., : i + 1, : i + 1])
        out[..., : i + 1] -= (w[..., i : i + 1] * inv[..., i, :] * inv[..., :, i]).real
    return out


def _fd_vjp(diag: Tensor, u: Tensor, z: complex, causal: bool, eps: float) -> Tensor:
    """Central differences of L = <u, features>, all N perturbations in one batched call."""
    n = diag.shape[-1]
    eye = torch.eye(n, dtype=diag.dtype)
    plus = bk_features(diag.unsqueeze(-2) + eps * eye, 1.0, z, causal=causal)
    minus = bk_features(diag.unsqueeze(-2) - eps * eye, 1.0, z, causal=causal)
    return ((plus - minus) * u.unsqueeze(-3)).sum((-1, -2)) / (2 * eps)


def _grad(diag: Tensor, u: Tensor, z: complex, causal: bool, grad_mode: str, blend: float) -> Tensor:
    x = diag.clone().requires_grad_()
    (bk_features(x, 1.0, z, causal=causal, grad_mode=grad_mode, blend=blend) * u).sum().backward()
    assert x.grad is not None
    return x.grad


def _gradcheck_layer(seed: int) -> bool:
    torch.manual_seed(seed)
    cfg = BKConfig(vocab_size=8, n_seq=16, d_model=8, n_layers=1, ffn="moe", num_experts=2, causal=False)
    layer = BKLayer(cfg).double().eval()  # eval: MoE routes by argmax, so the map is deterministic
    x = torch.randn(1, 16, 8, dtype=torch.float64, requires_grad=True)
    return bool(torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-6, rtol=1e-4))


def gradients(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    rng = np.random.default_rng(cfg["seed"])
    z = complex(cfg["z_re"], cfg["z_im"])
    batch, v_max, blend = int(cfg["batch"]), float(cfg["v_max"]), float(cfg["blend"])
    fault = cfg.get("fault")
    worst: dict[str, float] = {}
    cos: dict[str, float] = {}

    def keep(key: str, value: float, table: dict[str, float], pick: Any = max) -> None:
        table[key] = pick(table.get(key, value), value)

    sizes = [int(n) for n in cfg["sizes"]]
    for step, n in enumerate(sizes):
        v = torch.tensor(rng.uniform(-v_max, v_max, (batch, n)))
        diag = -2.0 + v
        u = torch.tensor(rng.standard_normal((batch, n, 2)))  # L = <u, [Re G, Im G]>
        w = torch.complex(u[..., 0], -u[..., 1])
        dense_g = core.dense_diag_inverse(diag, 1.0, 1.0, z)
        err128 = _rel(bk_resolvent(diag, 1.0, z), dense_g)
        err64 = _rel(bk_resolvent(diag.float(), 1.0, z, precision="complex64").to(torch.complex128), dense_g)
        keep("forward_c128", err128, worst)
        keep("forward_c64", err64, worst)
        rec.log(step, n=n, method="scan_c128", forward_rel_err=err128)
        rec.log(step, n=n, method="scan_c64", forward_rel_err=err64)
        for causal in (False, True):
            kind = "causal" if causal else "full"
            dense = _dense_vjp(diag, w, z, causal)
            exact = _grad(diag, u, z, causal, "hybrid" if fault == "hybrid_gradient" else "exact", blend)
            fd = _fd_vjp(diag, u, z, causal, float(cfg["fd_eps"]))
            rows = {"exact": exact, "finite_diff": fd,
                    "hybrid": _grad(diag, u, z, causal, "hybrid", blend),
                    "diag_only": _grad(diag, u, z, causal, "hybrid", 0.0)}
            for name, g in rows.items():
                rel, c = _rel(g, dense), _cos(g, dense)
                keep(f"{name}_{kind}", rel, worst)
                keep(f"{name}_{kind}", c, cos, min)
                rec.log(step, n=n, method=f"{name}_{kind}", grad_rel_err=rel, grad_cos=c)
            fd_gap = _rel(exact, fd)
            keep(f"exact_vs_fd_{kind}", fd_gap, worst)
        rec.progress(step + 1, len(sizes) + 2)

    # long sequences: scan vs a sequential loop, and what raw minors do
    long_n = [int(n) for n in cfg["long_sizes"]]
    long_err, long_finite, naive_finite = 0.0, True, True
    for i, n in enumerate(long_n):
        diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, n)))
        g = naive_minors_diag(diag, 1.0, z) if fault == "no_rescale" else bk_resolvent(diag, 1.0, z)
        ref = sequential_diag(diag, 1.0, z)
        finite = bool(torch.isfinite(g).all())
        long_finite &= finite
        long_err = max(long_err, _rel(g, ref) if finite else float("inf"))
        naive_finite &= bool(torch.isfinite(naive_minors_diag(diag, 1.0, z)).all())
        logdet = float(core.log_abs_det(core.shifted_diagonal(diag, z, torch.complex128),
                                        torch.ones(n - 1, dtype=torch.complex128))[0])
        rec.log(len(sizes) + i, n=n, method="long", long_rel_err=long_err, log_abs_det=logdet)
    rec.progress(len(sizes) + 1, len(sizes) + 2)

    # the two backends (torch scan, C loop) on one long problem: values and exact gradients
    backend_gap = 0.0
    if native.available():
        n = long_n[0] if long_n else max(sizes)
        diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, n)))
        u = torch.tensor(rng.standard_normal((2, n, 2)))
        for causal in (False, True):
            got = {}
            for backend in ("scan", "native"):
                x = diag.clone().requires_grad_()
                f = bk_features(x, 1.0, z, causal=causal, backend=backend)
                (f * u).sum().backward()
                assert x.grad is not None
                got[backend] = torch.cat([f.detach().flatten(), x.grad.flatten()])
            backend_gap = max(backend_gap, _rel(got["native"], got["scan"]))

    # causality: move v at position t; do features before t change?
    n, t = 64, 40
    diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (1, n)))
    bumped = diag.clone()
    bumped[0, t] += 1.0
    leak = {kind: float((bk_resolvent(bumped, 1.0, z, causal=c) - bk_resolvent(diag, 1.0, z, causal=c))[0, :t].abs().max())
            for kind, c in (("full", False), ("causal", True))}

    # on a GPU: the same scan, values and exact gradients, on the device against the CPU
    device = str(cfg["device"])
    device_gap = None
    if device != "cpu":
        diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, 1024)))
        u = torch.tensor(rng.standard_normal((2, 1024, 2)))
        device_gap = 0.0
        for causal in (False, True):
            got = []
            for dev in ("cpu", device):
                x = diag.clone().to(dev).requires_grad_()
                f = bk_features(x, 1.0, z, causal=causal, backend="scan")
                (f * u.to(dev)).sum().backward()
                assert x.grad is not None
                got.append(torch.cat([f.detach().flatten(), x.grad.flatten()]).cpu())
            device_gap = max(device_gap, _rel(got[1], got[0]))

    x = (-2.0 + torch.tensor(rng.uniform(-v_max, v_max, (2, 16)))).requires_grad_()
    core_ok = all(bool(torch.autograd.gradcheck(lambda d, c=c: bk_features(d, 1.0, z, causal=c), (x,)))
                  for c in (False, True))
    layer_ok = _gradcheck_layer(int(cfg["seed"]))
    rec.progress(len(sizes) + 2, len(sizes) + 2)
    rec.note(f"hybrid (blend {blend}) vs exact: worst cosine {cos['hybrid_full']:.3f}, "
             f"worst relative error {worst['hybrid_full']:.3g}")
    return {
        "forward_rel_err_c128": worst["forward_c128"],
        "forward_rel_err_c64": worst["forward_c64"],
        "exact_rel_err": worst["exact_full"],
        "exact_rel_err_causal": worst["exact_causal"],
        "exact_vs_fd_rel_err": max(worst["exact_vs_fd_full"], worst["exact_vs_fd_causal"]),
        "fd_rel_err": worst["finite_diff_full"],
        "hybrid_rel_err": worst["hybrid_full"],
        "hybrid_cos": cos["hybrid_full"],
        "diag_only_rel_err": worst["diag_only_full"],
        "diag_only_cos": cos["diag_only_full"],
        "hybrid_cos_causal": cos["hybrid_causal"],
        "gradcheck_core": core_ok,
        "gradcheck_layer": layer_ok,
        "long_rel_err": long_err,
        "long_finite": long_finite,
        "naive_minors_finite": naive_finite,
        "future_leak_full": leak["full"],
        "future_leak_causal": leak["causal"],
        "max_n": max(long_n) if long_n else max(sizes),
        "native_available": native.available(),
        "native_vs_scan_rel_err": backend_gap,
        "device": device,  # the float64 oracles run on the CPU; the scan is also checked on this device
        "device_vs_cpu_rel_err": device_gap,
    }
