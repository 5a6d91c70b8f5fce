"""The cross-metric study's one training loop: full-batch steps of a torch optimizer on a loss closure.

Every model the study measures (the verb-corpus transformers, the blob MLP whose Hessian is formed
exactly) is fitted the same way, so a metric's value never depends on which copy of a loop trained
the model. The loss is recomputed each step from `loss_fn()`; gradients are set to None between steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def full_batch(opt: torch.optim.Optimizer, loss_fn: Callable[[], Tensor], steps: int,
               log: list[float] | None = None) -> None:
    """`steps` optimizer steps on `loss_fn()`; each step's loss (before the step) goes to `log`."""
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None:
            log.append(float(loss.detach()))
