"""clip_grad_norm_ (engine.lm.train.optim) against the closed form."""

from __future__ import annotations

import math

import numpy as np

from engine.lm.train.optim import clip_grad_norm_
from engine.scratch.autograd.tensor import Tensor

CASES = ((10.0, 1.0), (0.1, 1.0), (3.0, 0.5))  # (gradient scale, max_norm): above, below, above the limit


def clip_closed_form_error(seed: int = 0) -> float:
    """Worst relative error of the returned norm and worst abs error of the clipped gradients, against one
    factor max_norm / (norm + 1e-6) above the limit and none below."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for scale, max_norm in CASES:
        grads = [rng.normal(size=(3, 4)) * scale, rng.normal(size=5) * scale]
        params = [Tensor(np.zeros(g.shape)) for g in grads]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.copy()
        norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
        factor = max_norm / (norm + 1e-6) if norm > max_norm else 1.0
        got = clip_grad_norm_(params, max_norm)
        worst = max(worst, abs(got - norm) / norm,
                    *(float(np.abs(p.grad - g * factor).max()) for p, g in zip(params, grads, strict=True)))
    return worst
