"""Sliding-window evaluation in blocks of walks, so memory stays bounded at any evaluation size.

For each block of walks: run the model over every window once, take the per-head matrices of one
layer (QK^T and AVW_O), reduce them at once to per-window numbers (the drift of the configured
subspace, the nine spectral metrics of each target, the full singular-value spectrum) and drop the
matrices. What is kept grows with windows x heads x n_ctx, not with windows x heads x n_ctx^2.
The walks of a block are whole, so consecutive windows (which drift compares) never straddle blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from engine.research.dcsbm import spectral
from engine.research.dcsbm.drift import window_drift
from engine.research.dcsbm.model import WalkTransformer
from engine.research.dcsbm.train import sliding_eval

TARGETS = ("qkt", "avwo")


@dataclass
class Streamed:
    logits: Tensor                                   # (W, n_win, vocab)
    drift: Tensor                                    # (W, n_win, H) configured subspace drift
    metrics: dict[str, dict[str, Tensor]] = field(default_factory=dict)   # target -> metric -> (W, n_win, H)
    spectra: dict[str, Tensor] = field(default_factory=dict)              # target -> (W, n_win, H, r)


def curve_metrics(spectra: Tensor, dims: int) -> dict[str, Tensor]:
    """(W, n_win, H, r) spectra -> causal Frenet curvature and torsion of (sigma_1..sigma_dims) per window."""
    w, n, h, _ = spectra.shape
    kappa = torch.full((w, n, h), float("nan"), dtype=torch.float64)
    tau = kappa.clone()
    for i in range(w):
        for j in range(h):
            k_, t_ = spectral.curvature_torsion(spectra[i, :, j, :dims].numpy(), causal=True)
            kappa[i, :, j], tau[i, :, j] = torch.from_numpy(k_), torch.from_numpy(t_)
    return {"spectral_curvature": kappa, "spectral_torsion": tau}


def stream_eval(model: WalkTransformer, walks, layer: int, target: str, side: str, k: int, tier: str,
                device: str = "cpu", block: int = 32, curve_dims: int = 3) -> Streamed:
    parts: list[Streamed] = []
    for start in range(0, len(walks), block):
        chunk = walks[start:start + block]
        logits, mats = sliding_eval(model, chunk, layer, target, device)
        part = Streamed(logits=logits, drift=torch.empty(0))
        for name in TARGETS:
            m = mats if name == target else sliding_eval(model, chunk, layer, name, device)[1]
            values, s = spectral.trajectory_metrics(m.transpose(1, 2), k, tier)     # window axis at -3
            part.metrics[name] = {key: v.transpose(1, 2) for key, v in values.items()}
            part.spectra[name] = s.transpose(1, 2)
            part.metrics[name].update(curve_metrics(part.spectra[name], curve_dims))
        # the configured drift is the left-subspace Grassmannian drift just computed from the same full SVD;
        # only a right subspace or the approximate tier needs its own decomposition
        reuse = side == "left" and tier == "full"
        part.drift = (part.metrics[target]["grassmannian_drift"].to(torch.float32) if reuse
                      else window_drift(mats, k, side))
        parts.append(part)
    return Streamed(
        logits=torch.cat([p.logits for p in parts]), drift=torch.cat([p.drift for p in parts]),
        metrics={t: {key: torch.cat([p.metrics[t][key] for p in parts])
                     for key in (*spectral.METRICS, *spectral.CURVE_METRICS)} for t in TARGETS},
        spectra={t: torch.cat([p.spectra[t] for p in parts]) for t in TARGETS})


def wvwo_matrices(model: WalkTransformer) -> Tensor:
    """(L, H, d, d) float64: each head's W_V^T W_O^T, the map from a residual input to its write-back
    (rank <= d_head), per layer."""
    out = []
    for blk in model.blocks:
        att = blk.attn
        d = att.v.weight.shape[1]
        wv = att.v.weight.detach().view(att.n_heads, att.d_k, d)                       # (H, d_k, d)
        wo = att.o.weight.detach().view(d, att.n_heads, att.d_k).permute(1, 0, 2)      # (H, d, d_k)
        out.append((wv.transpose(1, 2) @ wo.transpose(1, 2)).double().cpu())
    return torch.stack(out)


def wvwo_trajectory(snapshots: list[Tensor], k: int, tier: str) -> tuple[dict[str, Tensor], Tensor]:
    """WvWo over training checkpoints -> the nine metrics (L, H, n_ckpt) and spectra (L, H, n_ckpt, d).

    WvWo does not change during evaluation, so its trajectory is the training one: Grassmannian drift
    between consecutive checkpoints, rank-1 residual and read/write alignment (WvWo is square) included.
    """
    mats = torch.stack(snapshots).permute(1, 2, 0, 3, 4)                              # (L, H, T, d, d)
    return spectral.trajectory_metrics(mats, k, tier)


def wvwo_metrics(model: WalkTransformer) -> dict[str, list[list[float]]]:
    """The six value metrics of each head's W_V^T W_O^T (d_model x d_model, rank <= d_head), per layer and head."""
    out: dict[str, list[list[float]]] = {name: [] for name in spectral.VALUE_METRICS}
    for blk in model.blocks:
        att = blk.attn
        d = att.v.weight.shape[1]
        wv = att.v.weight.detach().view(att.n_heads, att.d_k, d)                       # (H, d_k, d)
        wo = att.o.weight.detach().view(d, att.n_heads, att.d_k).permute(1, 0, 2)      # (H, d, d_k)
        vals = spectral.value_metrics(torch.linalg.svdvals((wv.transpose(1, 2) @ wo.transpose(1, 2)).double()))
        for name in spectral.VALUE_METRICS:
            out[name].append([float(x) for x in vals[name]])
    return out
