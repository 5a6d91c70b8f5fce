"""How far can a perturbation of QK^T move AVW_O? The bound, stage by stage, and the measurement.

With S = QK^T / sqrt(d_k), A = softmax(S) row by row, and a perturbation Delta of QK^T:
  stage 1  ||A' - A||_F        <= 1/2 ||Delta||_F / sqrt(d_k)   (row softmax is 1/2-Lipschitz in l2:
                                                                  its Jacobian diag(p) - pp^T has norm <= 1/2)
  stage 2  ||(A' - A) V||_F     <= ||A' - A||_F ||V||_2
  stage 3  ||Delta(AV) W_O^T||_F <= ||Delta(AV)||_F ||W_O||_2
  Weyl     |sigma_i(M') - sigma_i(M)| <= ||M' - M||_2 <= ||M' - M||_F
so every singular value of AVW_O moves by at most eps ||QK^T||_F ||V||_2 ||W_O||_2 / (2 sqrt(d_k)),
eps = ||Delta||_F / ||QK^T||_F.

Tightness lives in stage 1. ||diag(p) - pp^T||_2 reaches 1/2 only when p splits evenly over two
entries; for p uniform over n entries it is 1/n, and for a peaked p it goes to 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def softmax_jacobian(p: Tensor) -> Tensor:
    """(..., n) probabilities -> (..., n, n) Jacobian diag(p) - p p^T of softmax at that point."""
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)


def _masked_softmax(s: Tensor, mask: Tensor | None) -> Tensor:
    return torch.softmax(s if mask is None else s.masked_fill(~mask, float("-inf")), dim=-1)


@dataclass
class BoundReport:
    """Per instance (batch) tensors: measured changes and the bound at each stage."""
    d_att: Tensor        # ||A' - A||_F
    b_att: Tensor        # lipschitz * ||Delta||_F / sqrt(d_k)
    d_av: Tensor         # ||Delta(AV)||_F
    b_av: Tensor         # d_att * ||V||_2
    d_out: Tensor        # ||Delta(AVW_O)||_F
    b_out: Tensor        # d_av * ||W_O||_2
    d_out_2: Tensor      # ||Delta(AVW_O)||_2
    d_sigma: Tensor      # max_i |Delta sigma_i(AVW_O)|
    bound: Tensor        # the end-to-end bound from the inputs alone
    lip_local: Tensor    # max over rows of ||J(p_i)||_2 at the unperturbed point


def perturbation_report(qkt: Tensor, delta: Tensor, v: Tensor, w_o: Tensor, d_k: int,
                        mask: Tensor | None = None, lipschitz: float = 0.5) -> BoundReport:
    """qkt, delta: (B, T, T) raw scores and their perturbation; v: (B, T, d_k); w_o: (B, d_out, d_k)."""
    scale = 1 / math.sqrt(d_k)
    a = _masked_softmax(qkt * scale, mask)
    a2 = _masked_softmax((qkt + delta) * scale, mask)
    out = a @ v @ w_o.transpose(-1, -2)
    out2 = a2 @ v @ w_o.transpose(-1, -2)
    fro = torch.linalg.matrix_norm
    d_att = fro(a2 - a)
    d_av = fro((a2 - a) @ v)
    v2, wo2 = torch.linalg.matrix_norm(v, ord=2), torch.linalg.matrix_norm(w_o, ord=2)
    d_sigma = (torch.linalg.svdvals(out2) - torch.linalg.svdvals(out)).abs().amax(-1)
    return BoundReport(
        d_att=d_att, b_att=lipschitz * fro(delta) * scale,
        d_av=d_av, b_av=d_att * v2,
        d_out=fro(out2 - out), b_out=d_av * wo2,
        d_out_2=torch.linalg.matrix_norm(out2 - out, ord=2), d_sigma=d_sigma,
        bound=lipschitz * fro(delta) * scale * v2 * wo2,
        lip_local=torch.linalg.matrix_norm(softmax_jacobian(a), ord=2).amax(-1),
    )


def worst_direction(qkt: Tensor, d_k: int, mask: Tensor | None = None) -> Tensor:
    """Per row, the top eigenvector of the softmax Jacobian at that row: the direction stage 1 amplifies most."""
    a = _masked_softmax(qkt / math.sqrt(d_k), mask)
    _, vecs = torch.linalg.eigh(softmax_jacobian(a))
    d = vecs[..., -1]                                          # (B, T, T): row i's top eigenvector
    return d if mask is None else d * mask
