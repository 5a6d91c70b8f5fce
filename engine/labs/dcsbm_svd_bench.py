"""Experiment dcsbm-svd-bench: is torch.svd_lowrank accurate enough for the drift metric?

The drift metric needs the top-k (k = 2) left singular subspace of every window's matrix. A
randomized SVD (Halko et al.; torch.svd_lowrank with q columns and niter power iterations) is
cheaper than a full SVD, but its accuracy depends on the spectrum: it is exact once q exceeds the
rank and good when singular values decay, and poor when they are flat. This experiment measures,
against torch.linalg.svd, the Grassmannian distance between the top-k subspaces and the relative
error of the top-k singular values, for four matrix families:
  gaussian     i.i.d. normal entries (flat spectrum: the hard case)
  decaying     singular values 0.7^i
  qkt          Q K^T / sqrt(d_k) with d_k = 8 (rank 8)
  masked_qkt   the same with entries above the diagonal zeroed (what the drift metric decomposes;
               the mask makes it full rank)
Timings are left to benchmarks/bench_dcsbm_svd.py. The exact top-k basis the drift metric uses
(subspace.top_subspace) is itself checked against numpy.linalg.svd on every matrix drawn here.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from engine.core.run import Recorder
from engine.core.threads import torch_threads as single_thread
from engine.research.dcsbm.subspace import grassmann_calibration_error, grassmann_distance, top_subspace_error

KINDS = ("gaussian", "decaying", "qkt", "masked_qkt")


def matrices(kind: str, n: int, batch: int, gen: torch.Generator, d_k: int = 8) -> Tensor:
    g = {"generator": gen, "dtype": torch.float64}
    if kind == "gaussian":
        return torch.randn(batch, n, n, **g)
    if kind == "decaying":
        u = torch.linalg.qr(torch.randn(batch, n, n, **g))[0]
        v = torch.linalg.qr(torch.randn(batch, n, n, **g))[0]
        return u * 0.7 ** torch.arange(n, dtype=torch.float64) @ v.transpose(-1, -2)
    m = torch.randn(batch, n, d_k, **g) @ torch.randn(batch, d_k, n, **g) / math.sqrt(d_k)
    return m.tril() if kind == "masked_qkt" else m


def lowrank_vs_full(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    with single_thread():
        return _run(cfg, rec)


def _run(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(cfg["seed"])
    k = cfg["k"]
    niters = [0] if cfg["fault"] == "no_power_iterations" else cfg["niters"]
    out: dict[str, Any] = {}
    cases = [(kind, n) for kind in KINDS for n in cfg["sizes"]]
    exact_err = 0.0
    for i, (kind, n) in enumerate(cases):
        m = matrices(kind, n, cfg["batch"], gen)
        exact_err = max(exact_err, top_subspace_error(m, k))
        u_full, s_full, _ = torch.linalg.svd(m, full_matrices=False)
        for q in cfg["qs"]:
            for niter in niters:
                torch.manual_seed(cfg["seed"])          # svd_lowrank draws its sketch from the global RNG
                u, s, _ = torch.svd_lowrank(m, q=min(q, n), niter=niter)
                dist = float(grassmann_distance(u_full[..., :k], u[..., :k]).max())
                err = float(((s[..., :k] - s_full[..., :k]).abs() / s_full[..., :k]).max())
                rec.log(n, kind=kind, q=q, niter=niter, series=f"{kind} q={q} niter={niter}",
                        subspace_distance=dist, sigma_rel_err=err)
                out[f"dist_{kind}_n{n}_q{q}_it{niter}"] = dist
        rec.progress(i + 1, len(cases))
    out["grassmann_known_angles_err"] = _calibrate_distance(cfg["seed"])
    n_ref, q_ref, it_ref = cfg["ref_size"], cfg["ref_q"], max(niters)
    summary = {f"dist_{kind}": out[f"dist_{kind}_n{n_ref}_q{q_ref}_it{it_ref}"] for kind in KINDS}
    out.update(summary, ref_size=n_ref, ref_q=q_ref, ref_niter=it_ref, top_subspace_vs_numpy=exact_err)
    rec.note(f"max top-{k} subspace distance at n={n_ref}, q={q_ref}, niter={it_ref}: "
             + ", ".join(f"{kind} {v:.2e}" for kind, v in summary.items()))
    return out


def _calibrate_distance(seed: int) -> float:
    """Worst error of the distance on subspace pairs with known principal angles (own generator)."""
    gen = torch.Generator().manual_seed(seed + 1)
    sets = ([0.3, 1.2], [0.0, math.pi / 2], [1e-3, 0.7, 1.5])
    return max(grassmann_calibration_error(torch.tensor(a, dtype=torch.float64), gen) for a in sets)
