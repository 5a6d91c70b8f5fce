"""Plain full-batch gradient descent on a list of raw parameters: p.data -= lr * p.grad, nothing else.

Phases 07 and 08 train before modules and optimizer objects exist (phase 09), on scalar Values and on
raw Tensors. Both kinds have `.data` and `.grad`; they differ in the grad reset (0.0 for a Value,
None for a Tensor) and in backward (phase 07's break calls backward(accumulate=False)), so those are
arguments. The loss is recomputed by `loss_fn()` each epoch, on the whole training set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def descend(params: Sequence[Any], loss_fn: Callable[[], Any], lr: float, epochs: int, *, reset: Any = None,
            backward: Callable[[Any], None] | None = None,
            after: Callable[[int, Any], None] | None = None) -> Any | None:
    """`epochs` steps; `after(epoch, loss)` after each update. Returns the last loss (None if epochs is 0)."""
    loss = None
    for epoch in range(epochs):
        for p in params:
            p.grad = reset
        loss = loss_fn()
        if backward is None:
            loss.backward()
        else:
            backward(loss)
        for p in params:
            p.data -= lr * p.grad
        if after is not None:
            after(epoch, loss)
    return loss
