"""Phase 14's LSTM language-model loop: full-sequence next-token loss, one optimizer step per pass,
stopped at the first non-finite loss, gradient norm or cell state.

Why here and not in the lab: the stop rule (check before the step, so no non-finite update is ever
applied) and the cell-state bookkeeping are what the break's verdict reads, so a test must reach them.
The lab passes a model (engine.lm.models.seq.lstm.LSTM or anything with `.stats["cell_max"]` and
`.stats["forget_max"]` after a forward), an optimizer and a `log(step, **metrics)` callback.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from engine.lm.train.optim import global_grad_norm
from engine.scratch.autograd.tensor import cross_entropy
from engine.scratch.nn.module import Module

Log = Callable[..., None]


class Stepper(Protocol):
    def step(self) -> None: ...


def _no_log(step: int, **metrics: Any) -> None:
    return None


def _cell_maxima(per_step: list[float]) -> tuple[float, float]:
    """(largest |c_t| of the pass, inf if any step was non-finite; largest finite one, 0 if none)."""
    cells = np.array(per_step)
    step_max = float(cells.max()) if np.isfinite(cells).all() else float("inf")
    finite = cells[np.isfinite(cells)]
    return step_max, float(finite.max()) if finite.size else 0.0


def fit_lstm(model: Module, opt: Stepper, seq: np.ndarray, steps: int, *, log: Log = _no_log) -> dict[str, Any]:
    """Up to `steps` passes over `seq` (inputs seq[:-1], targets seq[1:]), steps counted from 1.

    Each pass: loss, gradients, global gradient norm (float64); `log(step, loss, cell_max, grad_norm,
    forget_max, ok)` with the raw values; then the optimizer steps only if loss, norm and every |c_t|
    were finite. Returns first_nonfinite_step (None if none), cell_max (the largest per-pass maximum,
    inf once one was non-finite), finite_cell_max and final_loss (the last pass's loss)."""
    first_bad: int | None = None
    cell_max, finite_cell_max, loss_value = 0.0, 0.0, float("nan")
    for step in range(1, steps + 1):
        with np.errstate(all="ignore"):
            loss = cross_entropy(model(seq[:-1]), seq[1:])
            model.zero_grad()
            loss.backward()
            gnorm = global_grad_norm(model.parameters())
        step_max, step_finite_max = _cell_maxima(model.stats["cell_max"])  # type: ignore[attr-defined]
        cell_max, finite_cell_max = max(cell_max, step_max), max(finite_cell_max, step_finite_max)
        loss_value = loss.item()
        ok = math.isfinite(loss_value) and math.isfinite(gnorm) and math.isfinite(step_max)
        log(step, loss=loss_value, cell_max=step_max, grad_norm=gnorm,
            forget_max=model.stats["forget_max"], ok=ok)  # type: ignore[attr-defined]
        if not ok:
            first_bad = step
            break
        opt.step()
    return {"first_nonfinite_step": first_bad, "cell_max": cell_max, "finite_cell_max": finite_cell_max,
            "final_loss": loss_value}
