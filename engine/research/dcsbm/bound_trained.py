"""The softmax perturbation bound (softmax_bound.py) applied to a trained WalkTransformer's attention.

For real windows, every layer and head hands back its scaled scores, V and W_O slice. The raw scores
QK^T are perturbed by Delta = eps ||QK^T||_F D / ||D||_F (D Gaussian, causal entries only) and the
observed max |Delta sigma_i(AVW_O)| is divided by the end-to-end bound. A ratio above 1 would be a
violation; how far below 1 it sits says how loose the bound is on attention the model really learned
(trained heads are peaked, where the softmax Jacobian is far below its 1/2 worst case).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from engine.research.dcsbm.model import WalkTransformer
from engine.research.dcsbm.softmax_bound import perturbation_report


@torch.no_grad()
def bound_ratios(model: WalkTransformer, windows: Tensor, eps: float, gen: torch.Generator) -> dict[str, Tensor]:
    """(n_layers, n_heads, B) observed/bound ratios, and the local Lipschitz constant per row maximum."""
    _, layers = model(windows, internals=True)
    n = windows.shape[1]
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    ratios, lips = [], []
    for info in layers:
        d_k = info["v"].shape[-1]
        qkt = info["qkt"].double() * math.sqrt(d_k)                       # (B, H, T, T) raw scores, masked 0
        b, h = qkt.shape[:2]
        qkt = qkt.reshape(b * h, n, n)
        d = torch.randn(qkt.shape, generator=gen, dtype=torch.float64) * mask
        delta = eps * torch.linalg.matrix_norm(qkt)[:, None, None] * d / torch.linalg.matrix_norm(d)[:, None, None]
        v = info["v"].double().reshape(b * h, n, d_k)
        w_o = info["w_o"].double().unsqueeze(0).expand(b, -1, -1, -1).reshape(b * h, -1, d_k)
        rep = perturbation_report(qkt, delta, v, w_o, d_k, mask)
        ratios.append((rep.d_sigma / rep.bound).reshape(b, h).T)
        lips.append(rep.lip_local.reshape(b, h).T)
    return {"ratio": torch.stack(ratios), "lip_local": torch.stack(lips)}
