"""The scratch stack's two training loops for a classifier (phases 09-10): full batch and minibatch.

Why here and not in the labs: the loop is the part a test must reach (the same batch order for
every model, the stop at the first non-finite loss, the gradient norm read before the step), and
phases 09 and 10 each kept their own copy inside a lab entry. A lab passes its config, its model and
optimizer, and a `log(step, **metrics)` callback (usually `rec.log` with the lab's tag).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad
from engine.scratch.nn.module import Module

Log = Callable[..., None]


class Stepper(Protocol):
    def zero_grad(self) -> None: ...
    def step(self) -> None: ...


def _no_log(step: int, **metrics: Any) -> None:
    return None


def fit_full_batch(model: Module, opt: Stepper, x: np.ndarray, y: np.ndarray, epochs: int, *,
                   log: Log = _no_log, log_every: int = 1) -> tuple[float, int | None]:
    """Full-batch training on (x, y); returns the final loss and the first epoch whose train accuracy
    (read from that epoch's forward pass, before the step) reached 0.9 (None if none did)."""
    xt = Tensor(x)
    first_90: int | None = None
    loss_value = float("nan")
    for epoch in range(epochs):
        opt.zero_grad()
        logits = model(xt)
        loss = cross_entropy(logits, y)
        loss.backward()
        opt.step()
        loss_value = loss.item()
        acc = float((logits.data.argmax(1) == y).mean())
        if first_90 is None and acc >= 0.9:
            first_90 = epoch
        if epoch % log_every == 0 or epoch == epochs - 1:
            log(epoch, loss=loss_value, train_acc=acc)
    return loss_value, first_90


def fit_minibatch(model: Module, opt: Stepper, data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], *,
                  steps: int, batch: int, seed: int, log_every: int, log: Log = _no_log,
                  grad_of: Any = None) -> dict[str, Any]:
    """Minibatch training with batches drawn (with replacement) by `default_rng(seed)`, so every model
    given the same seed sees the same batches. Stops at the first non-finite loss (`nan_step`, and
    `stop_loss` its value; -1 and None when training ran to the end). `grad_of`: a layer whose weight
    gradient norm is recorded each step (`grads`) and logged as `grad_norm_layer1`.
    Returns losses, grads, nan_step, stop_loss, first_loss, final_loss (mean of the last 50) and val_acc."""
    x, y, xv, yv = data
    order = np.random.default_rng(seed)
    losses: list[float] = []
    grads: list[float] = []
    nan_step, stop_loss = -1, None
    with np.errstate(all="ignore"):
        for step in range(steps):
            idx = order.integers(0, len(y), size=batch)
            opt.zero_grad()
            loss = cross_entropy(model(Tensor(x[idx])), y[idx])
            value = loss.item()
            if not math.isfinite(value):
                nan_step, stop_loss = step, value
                break
            loss.backward()
            w = None if grad_of is None else grad_of.weight.grad
            g = float(np.linalg.norm(w)) if w is not None else None
            opt.step()
            losses.append(value)
            if g is not None:
                grads.append(g)
            if step % log_every == 0 or step == steps - 1:
                log(step, loss=value, **({"grad_norm_layer1": max(g, 1e-30)} if g is not None else {}))
    model.eval()
    with no_grad(), np.errstate(all="ignore"):
        val_acc = float((model(Tensor(xv)).data.argmax(1) == yv).mean())
    model.train()
    tail = losses[-min(50, len(losses)):] if losses else [float("nan")]
    return {"losses": losses, "grads": grads, "nan_step": nan_step, "stop_loss": stop_loss,
            "first_loss": losses[0] if losses else float("nan"), "final_loss": float(np.mean(tail)),
            "val_acc": val_acc}
