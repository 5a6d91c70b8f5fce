"""GPTQ for one Linear: quantize column by column and push each column's error onto the later ones.

With calibration inputs X (in x n), the layer's output error for a weight error E is
tr(E H E^T) with H = X X^T / n. GPTQ walks the input columns in order; after rounding column
i it adds -(err_i / U[i, i]) * U[i, j] to every later column j, where U is the *upper*
Cholesky factor of H^-1. (torch.linalg.cholesky returns the lower factor unless upper=True;
reading the lower one at [i, j > i] gives zeros and GPTQ silently turns into round-to-nearest.)
Updates are applied lazily in blocks of `block` columns, which gives the same result as
updating every later column at each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.torchstack.quant.quantize import fp16_scale, qmax, quantize_symmetric_per_group


@dataclass
class GPTQResult:
    q: Tensor  # int8 codes (out, in)
    scale: Tensor  # FP16 scales (out, in / group_size)
    w_hat: Tensor  # dequantized weights, float64


def damped_hessian(X: Tensor, damp_frac: float = 0.01) -> Tensor:
    """H = X X^T / n + eps I with eps = damp_frac * mean(diag H); X is (in, n)."""
    X = X.double()
    H = X @ X.t() / X.shape[1]
    return H + damp_frac * H.diagonal().mean() * torch.eye(H.shape[0], dtype=H.dtype, device=H.device)


def hessian_loss(W: Tensor, W_hat: Tensor, H: Tensor) -> tuple[float, Tensor]:
    """tr((W - W_hat) H (W - W_hat)^T) and its per-row terms (rows are output channels)."""
    E = (W.double() - W_hat.double())
    rows = ((E @ H.double()) * E).sum(dim=1)
    return float(rows.sum()), rows


def rtn_per_group(W: Tensor, bits: int = 4, group_size: int = 64) -> GPTQResult:
    q, s = quantize_symmetric_per_group(W, bits, group_size)
    w_hat = (q.double().reshape(q.shape[0], -1, group_size) * s.double().unsqueeze(-1)).reshape(q.shape)
    return GPTQResult(q, s, w_hat)


def gptq_quantize(W: Tensor, H: Tensor, bits: int = 4, group_size: int = 64, block: int = 128,
                  upper: bool = True) -> GPTQResult:
    """GPTQ with per-group scales chosen from the error-updated weights when a group starts.

    `upper=False` is the Cholesky trap on purpose: it reads the lower factor, whose entries
    above the diagonal are zero, so no error is propagated (kept for the lab's comparison).
    """
    if block % group_size:
        raise ValueError("block must be a multiple of group_size so each group lies inside one block")
    W = W.double().clone()
    out_f, n = W.shape
    H = H.double().clone()
    dead = H.diagonal() == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    Hinv = torch.cholesky_inverse(torch.linalg.cholesky(H))
    U = torch.linalg.cholesky(Hinv, upper=True) if upper else torch.linalg.cholesky(Hinv)
    lim = qmax(bits)
    q = torch.zeros(out_f, n, dtype=torch.int8, device=W.device)
    scales = torch.zeros(out_f, n // group_size, dtype=torch.float16, device=W.device)
    w_hat = torch.zeros_like(W)
    for i1 in range(0, n, block):
        i2 = min(i1 + block, n)
        W1, U1 = W[:, i1:i2].clone(), U[i1:i2, i1:i2]
        err1 = torch.zeros_like(W1)
        for i in range(i2 - i1):
            col = i1 + i
            if col % group_size == 0:
                scales[:, col // group_size] = fp16_scale(W1[:, i: i + group_size].abs().amax(dim=1), lim)
            s = scales[:, col // group_size].double()
            w = W1[:, i]
            qi = torch.clamp(torch.round(w / s), -lim, lim)
            q[:, col] = qi.to(torch.int8)
            w_hat[:, col] = qi * s
            err = (w - w_hat[:, col]) / U1[i, i]
            W1[:, i:] -= err[:, None] * U1[i, i:][None, :]
            err1[:, i] = err
        W[:, i2:] -= err1 @ U[i1:i2, i2:]
    return GPTQResult(q, scales, w_hat)
