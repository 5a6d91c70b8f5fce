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

from engine.core.run import Recorder
from engine.research.bk import gradcheck as G
from engine.research.bk import native
from engine.research.bk.core import dense_diag_inverse
from engine.research.bk.function import bk_resolvent


def _size_sweep(cfg: dict[str, Any], rec: Recorder, rng: np.random.Generator, z: complex,
                worst: dict[str, float], cos: dict[str, float]) -> None:
    """Forward (both precisions) and every gradient row against the dense references, at each small N."""
    def keep(key: str, value: float, table: dict[str, float], pick: Any = max) -> None:
        table[key] = pick(table.get(key, value), value)

    sizes, v_max = [int(n) for n in cfg["sizes"]], float(cfg["v_max"])
    exact_mode = "hybrid" if cfg.get("fault") == "hybrid_gradient" else "exact"
    for step, n in enumerate(sizes):
        diag = -2.0 + torch.tensor(rng.uniform(-v_max, v_max, (int(cfg["batch"]), n)))
        u = torch.tensor(rng.standard_normal((int(cfg["batch"]), n, 2)))  # L = <u, [Re G, Im G]>
        dense_g = dense_diag_inverse(diag, 1.0, 1.0, z)
        for method, got in (("c128", bk_resolvent(diag, 1.0, z)),
                            ("c64", bk_resolvent(diag.float(), 1.0, z, precision="complex64").to(torch.complex128))):
            keep(f"forward_{method}", G.rel(got, dense_g), worst)
            rec.log(step, n=n, method=f"scan_{method}", forward_rel_err=G.rel(got, dense_g))
        for causal, kind in ((False, "full"), (True, "causal")):
            dense, rows = G.gradient_rows(diag, u, z, causal, float(cfg["fd_eps"]), float(cfg["blend"]), exact_mode)
            for name, g in rows.items():
                keep(f"{name}_{kind}", G.rel(g, dense), worst)
                keep(f"{name}_{kind}", G.cos(g, dense), cos, min)
                rec.log(step, n=n, method=f"{name}_{kind}", grad_rel_err=G.rel(g, dense), grad_cos=G.cos(g, dense))
            keep(f"exact_vs_fd_{kind}", G.rel(rows["exact"], rows["finite_diff"]), worst)
        rec.progress(step + 1, len(sizes) + 2)


def gradients(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    rng = np.random.default_rng(cfg["seed"])
    z, v_max = complex(cfg["z_re"], cfg["z_im"]), float(cfg["v_max"])
    sizes, long_n = [int(n) for n in cfg["sizes"]], [int(n) for n in cfg["long_sizes"]]
    worst: dict[str, float] = {}
    cos: dict[str, float] = {}
    _size_sweep(cfg, rec, rng, z, worst, cos)
    long_err, long_finite, naive_finite, rows = G.long_sequences(rng, long_n, v_max, z, cfg.get("fault") == "no_rescale")
    for i, (n, err, logdet) in enumerate(rows):
        rec.log(len(sizes) + i, n=n, method="long", long_rel_err=err, log_abs_det=logdet)
    rec.progress(len(sizes) + 1, len(sizes) + 2)
    gap = G.backend_gap(rng, long_n[0] if long_n else max(sizes), v_max, z) if native.available() else 0.0
    leak = G.future_leak(rng, v_max, z)
    device = str(cfg["device"])  # the float64 oracles run on the CPU; the scan is also checked on this device
    on_device = G.device_gap(rng, v_max, z, device) if device != "cpu" else None
    core_ok, layer_ok = G.gradchecks(rng, v_max, z, int(cfg["seed"]))
    rec.progress(len(sizes) + 2, len(sizes) + 2)
    rec.note(f"hybrid (blend {float(cfg['blend'])}) vs exact: worst cosine {cos['hybrid_full']:.3f}, "
             f"worst relative error {worst['hybrid_full']:.3g}")
    return {"forward_rel_err_c128": worst["forward_c128"], "forward_rel_err_c64": worst["forward_c64"],
            "exact_rel_err": worst["exact_full"], "exact_rel_err_causal": worst["exact_causal"],
            "exact_vs_fd_rel_err": max(worst["exact_vs_fd_full"], worst["exact_vs_fd_causal"]),
            "fd_rel_err": worst["finite_diff_full"], "hybrid_rel_err": worst["hybrid_full"],
            "hybrid_cos": cos["hybrid_full"], "diag_only_rel_err": worst["diag_only_full"],
            "diag_only_cos": cos["diag_only_full"], "hybrid_cos_causal": cos["hybrid_causal"],
            "gradcheck_core": core_ok, "gradcheck_layer": layer_ok, "long_rel_err": long_err,
            "long_finite": long_finite, "naive_minors_finite": naive_finite, "future_leak_full": leak["full"],
            "future_leak_causal": leak["causal"], "max_n": max(long_n) if long_n else max(sizes),
            "native_available": native.available(), "native_vs_scan_rel_err": gap, "device": device,
            "device_vs_cpu_rel_err": on_device}
