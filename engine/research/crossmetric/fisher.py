"""Diagonal Fisher information from per-sample gradients, empirical and true.

For a model p(y | x, theta) and inputs x_1..x_n:
    true Fisher      F = 1/n sum_i E_{y ~ p(.|x_i)} [g_i(y) g_i(y)^T],  g_i(y) = grad log p(y | x_i)
    empirical Fisher  F_emp = 1/n sum_i g_i(y_i) g_i(y_i)^T  with the dataset's labels y_i.
They coincide only when the labels really come from the model; the empirical one is the
uncentred second moment of the training gradients, not a curvature (Kunstner et al., 2019).
The true Fisher's expectation over y is taken exactly (classifiers: enumerate the classes)
or by Monte Carlo (sequence models: sample y from the model). Only diagonals are kept, as
dicts shaped like the parameters, which callers sum over whatever groups they study
(a weight matrix, one head's slices: see heads.param_slice_sums).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import grad, vmap

# (params, x_i, y_i) -> log p(y_i | x_i) as a scalar, for ONE example (no batch axis).
LogProb = Callable[[dict[str, Tensor], Tensor, Tensor], Tensor]


def per_sample_grads(logp: LogProb, params: dict[str, Tensor], x: Tensor, y: Tensor,
                     chunk_size: int | None = None) -> dict[str, Tensor]:
    """g_i = grad_theta log p(y_i | x_i) for every i at once: each value gets a leading n axis."""
    return vmap(grad(logp), in_dims=(None, 0, 0), chunk_size=chunk_size)(params, x, y)  # type: ignore[no-any-return]


def _weighted_square_mean(g: dict[str, Tensor], w: Tensor | None = None) -> dict[str, Tensor]:
    n = next(iter(g.values())).shape[0]
    if w is None:
        return {k: (v * v).mean(0) for k, v in g.items()}
    return {k: torch.einsum("i,i...->...", w, v * v) / n for k, v in g.items()}


def empirical_fisher_diag(logp: LogProb, params: dict[str, Tensor], x: Tensor, y: Tensor,
                          chunk_size: int | None = None) -> dict[str, Tensor]:
    return _weighted_square_mean(per_sample_grads(logp, params, x, y, chunk_size))


def true_fisher_diag_exact(logp: LogProb, probs: Tensor, params: dict[str, Tensor], x: Tensor,
                           chunk_size: int | None = None) -> dict[str, Tensor]:
    """Expectation over every class c with weight p(c | x_i); `probs` is (n, n_classes)."""
    out: dict[str, Tensor] = {}
    for c in range(probs.shape[1]):
        y = torch.full((x.shape[0],), c, dtype=torch.long, device=x.device)
        part = _weighted_square_mean(per_sample_grads(logp, params, x, y, chunk_size), probs[:, c])
        out = part if not out else {k: out[k] + part[k] for k in out}
    return out


def true_fisher_diag_mc(logp: LogProb, sample: Callable[[torch.Generator], Tensor], params: dict[str, Tensor],
                        x: Tensor, n_samples: int, generator: torch.Generator,
                        chunk_size: int | None = None) -> dict[str, Tensor]:
    """Monte Carlo: labels drawn from the model (`sample(gen)` returns y shaped like the data labels)."""
    out: dict[str, Tensor] = {}
    for _ in range(n_samples):
        part = empirical_fisher_diag(logp, params, x, sample(generator), chunk_size)
        out = part if not out else {k: out[k] + part[k] for k in out}
    return {k: v / n_samples for k, v in out.items()}

