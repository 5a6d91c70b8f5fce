"""Centered kernel alignment (linear kernel) between two representations of the same examples.

X is (n, p) and Y is (n, q): row i of each must describe the same example i.
    linear CKA = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F),  columns centred
(Kornblith et al., 2019). It is invariant to orthogonal transforms and isotropic scaling of
either side, not to general invertible linear maps. With few examples and wide layers the
plain estimate is biased towards 1 even for unrelated features; `debiased_cka` replaces each
HSIC by its unbiased estimator (Song et al., 2012; Nguyen et al., 2021), which has mean ~0
for independent representations.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _centre(x: Tensor) -> Tensor:
    x = x.reshape(x.shape[0], -1).to(torch.float64)
    return x - x.mean(0, keepdim=True)


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Feature-space form: cost O(n p q), never builds an n x n matrix."""
    x, y = _centre(x), _centre(y)
    num = (y.T @ x).square().sum()
    den = (x.T @ x).norm() * (y.T @ y).norm()
    return float(num / den)


def linear_cka_gram(x: Tensor, y: Tensor) -> float:
    """The same quantity from centred Gram matrices, HSIC = tr(K H L H): a cross-check of the above."""
    k, l = _centre(x) @ _centre(x).T, _centre(y) @ _centre(y).T
    return float((k * l).sum() / (k.norm() * l.norm()))


def _hsic_unbiased(k: Tensor, l: Tensor) -> Tensor:
    n = k.shape[0]
    k, l = k.clone(), l.clone()
    k.fill_diagonal_(0)
    l.fill_diagonal_(0)
    kl = (k * l).sum()
    ks, ls = k.sum(), l.sum()
    cross = (k.sum(0) * l.sum(0)).sum()
    return (kl + ks * ls / ((n - 1) * (n - 2)) - 2 * cross / (n - 2)) / (n * (n - 3))


def debiased_cka(x: Tensor, y: Tensor) -> float:
    if x.shape[0] < 4:
        raise ValueError("debiased CKA needs at least 4 examples")
    xc, yc = _centre(x), _centre(y)
    k, l = xc @ xc.T, yc @ yc.T
    den = torch.sqrt(_hsic_unbiased(k, k) * _hsic_unbiased(l, l))
    return float(_hsic_unbiased(k, l) / den)


def cka_matrix(reps: list[Tensor], debiased: bool = False) -> Tensor:
    """Symmetric matrix of CKA between every pair of representations (same examples, same order)."""
    fn = debiased_cka if debiased else linear_cka
    m = torch.eye(len(reps), dtype=torch.float64)
    for i in range(len(reps)):
        for j in range(i + 1, len(reps)):
            m[i, j] = m[j, i] = fn(reps[i], reps[j])
    return m
