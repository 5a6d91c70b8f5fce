"""Representation and weight-geometry metrics: CKA, SVCCA, effective rank, superposition, heavy tails.

Representations are the outputs of the model's parameterised leaf modules (forward hooks), flattened
to one row per output row of the model (rows that do not line up with the output, such as a
position-embedding table, are left out), in the order the forward pass produced them.

    svcca_first_last            SVCCA (Raghu et al. 2017): keep the top singular directions holding
                                99% of each side's variance, then the mean canonical correlation;
                                invariant to any invertible linear map, unlike CKA
    superposition_interference  mean squared cosine between distinct feature directions (rows of the
                                token embedding, else of the first Embedding, else columns of the first
                                Linear); 0 when the features are orthogonal
    superposition_dims_per_feature  mean D_i = ||w_i||^2 / sum_j (w_i_hat . w_j)^2 (Elhage et al. 2022):
                                1 for a feature with a dimension of its own, 1/2 for an antipodal pair
    weight_alpha_mean           power-law exponent of each weight matrix's eigenvalues of W^T W
                                (WeightWatcher's alpha): Clauset's MLE alpha = 1 + k / sum log(l_i / l_min)
                                over the upper half of the spectrum, mean over matrices with >= 8 of them
    activation_sparsity_hoyer   Hoyer's (sqrt(n) - ||a||_1/||a||_2) / (sqrt(n) - 1) per row, mean
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from engine.research.crossmetric import cka
from engine.research.crossmetric.metrics_base import effective_rank
from engine.research.crossmetric.registry import Batch, register


def reps(b: Batch) -> list[Tensor]:
    rows = b.output.reshape(-1, b.output.shape[-1]).shape[0]
    out = []
    for a in b.activations.values():
        r = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(-1, 1)
        if r.shape[0] == rows:
            out.append(r.double())
    return out


@register("activation_effective_rank", ("activations",), "mean effective rank of the hooked outputs", "representation")
def _act_erank(b: Batch) -> float:
    ranks = [effective_rank(a) for a in reps(b)]
    return float(sum(ranks) / len(ranks))


@register("cka_first_last", ("activations",), "linear CKA between the first and last hooked outputs",
          "representation")
def _cka(b: Batch) -> float:
    r = reps(b)
    return cka.linear_cka(r[0], r[-1])


@register("cka_adjacent_mean", ("activations",), "mean linear CKA between consecutive hooked outputs",
          "representation")
def _cka_adj(b: Batch) -> float:
    r = reps(b)
    vals = [cka.linear_cka(x, y) for x, y in zip(r[:-1], r[1:], strict=True)]
    return float(np.mean(vals)) if vals else float("nan")


def svcca(x: Tensor, y: Tensor, keep: float = 0.99) -> float:
    def reduce(a: Tensor) -> Tensor:
        a = a.double() - a.double().mean(0)
        u, s, _ = torch.linalg.svd(a, full_matrices=False)
        share = (s**2).cumsum(0) / (s**2).sum()
        k = int((share < keep).sum()) + 1
        return u[:, :k]                       # orthonormal basis of the kept directions
    qx, qy = reduce(x), reduce(y)
    rho = torch.linalg.svdvals(qx.T @ qy).clamp(0, 1)   # canonical correlations
    return float(rho.mean())


@register("svcca_first_last", ("activations",), "SVCCA mean canonical correlation, first vs last hooked output",
          "representation")
def _svcca(b: Batch) -> float:
    r = reps(b)
    return svcca(r[0], r[-1])


def _matrices(b: Batch) -> list[Tensor]:
    return [p.detach().double() for p in b.model.parameters() if p.ndim == 2]


@register("weight_stable_rank", (), "mean ||W||_F^2 / ||W||_2^2 over weight matrices", "weights")
def _w_srank(b: Batch) -> float:
    vals = [float(w.square().sum() / torch.linalg.matrix_norm(w, ord=2) ** 2) for w in _matrices(b)]
    return float(sum(vals) / len(vals))


@register("weight_effective_rank", (), "mean effective rank (exp singular-value entropy) of weight matrices",
          "weights")
def _w_erank(b: Batch) -> float:
    return float(np.mean([effective_rank(w) for w in _matrices(b)]))


def powerlaw_alpha(eigs: Tensor) -> float:
    """Clauset-Shalizi-Newman MLE of alpha for p(l) ~ l^-alpha over the upper half of the eigenvalues."""
    e = eigs.double().sort(descending=True).values
    e = e[e > 0]
    k = max(2, len(e) // 2)
    tail = e[:k]
    return float(1 + k / torch.log(tail / tail[-1]).sum().clamp_min(1e-30))


@register("weight_alpha_mean", (), "mean power-law alpha of the W^T W spectra (heavy-tail fit, >= 8 eigenvalues)",
          "weights")
def _alpha(b: Batch) -> float:
    vals = []
    for w in _matrices(b):
        if min(w.shape) >= 8:
            vals.append(powerlaw_alpha(torch.linalg.svdvals(w) ** 2))
    return float(np.mean(vals)) if vals else float("nan")


def feature_directions(b: Batch) -> Tensor:
    if b.view is not None:
        return b.view.W_E.double()
    for m in b.model.modules():
        if isinstance(m, nn.Embedding):
            return m.weight.detach().double()
    for m in b.model.modules():
        if isinstance(m, nn.Linear):
            return m.weight.detach().double().T     # input feature i -> column i of W
    raise ValueError("superposition metrics: no Embedding or Linear layer to read feature directions from")


def interference(w: Tensor) -> float:
    u = w / w.norm(dim=1, keepdim=True).clamp_min(1e-30)
    c = (u @ u.T) ** 2
    n = c.shape[0]
    return float((c.sum() - c.diagonal().sum()) / (n * (n - 1)))


def dims_per_feature(w: Tensor) -> Tensor:
    u = w / w.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return w.square().sum(1) / ((u @ w.T) ** 2).sum(1)


@register("superposition_interference", (), "mean squared cosine between distinct feature directions",
          "superposition")
def _interf(b: Batch) -> float:
    return interference(feature_directions(b))


@register("superposition_dims_per_feature", (), "mean feature dimensionality D_i (1: own dimension)", "superposition")
def _dims(b: Batch) -> float:
    return float(dims_per_feature(feature_directions(b)).mean())


def hoyer(x: Tensor) -> Tensor:
    n = x.shape[-1]
    ratio = x.abs().sum(-1) / x.norm(dim=-1).clamp_min(1e-30)
    return (math.sqrt(n) - ratio) / (math.sqrt(n) - 1)


@register("activation_sparsity_hoyer", ("activations",), "mean Hoyer sparsity of hooked output rows (1: one-hot)",
          "superposition")
def _hoyer(b: Batch) -> float:
    vals = [float(hoyer(r).mean()) for r in reps(b) if r.shape[-1] > 1]
    return float(np.mean(vals))
