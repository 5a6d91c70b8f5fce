"""fit_full_batch's `log` callback, as phase 12's classifier uses it: called once per epoch (log_every=1)
after that epoch's step, so an evaluation inside it sees the updated model. Checked against the same
full-batch Adam loop in torch (fp64): the callback's post-step val loss equals torch's after epoch + 1 steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad
from engine.scratch.nn import Linear, ReLU, Sequential
from engine.scratch.nn.fit import fit_full_batch
from engine.scratch.optim import Adam

torch = pytest.importorskip("torch")


def _setup() -> tuple[Sequential, Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    x, xv = rng.normal(size=(40, 6)), rng.normal(size=(20, 6))
    y, yv = rng.integers(0, 3, size=40), rng.integers(0, 3, size=20)
    ours = Sequential(Linear(6, 8, rng=rng, dtype=np.float64), ReLU(), Linear(8, 3, rng=rng, dtype=np.float64))
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        for i in (0, 2):
            mine: Any = ours[i]
            theirs = ref[i]
            theirs.weight.copy_(torch.from_numpy(mine.weight.data))
            theirs.bias.copy_(torch.from_numpy(mine.bias.data))
    return ours, ref, x, y, xv, yv


def _torch_val_losses(ref: Any, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray,
                      epochs: int) -> list[float]:
    opt = torch.optim.Adam(ref.parameters(), lr=0.01)
    out = []
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
        with torch.no_grad():
            out.append(torch.nn.functional.cross_entropy(ref(torch.from_numpy(xv)), torch.from_numpy(yv)).item())
    return out


def _fit_with_eval(fit=fit_full_batch) -> tuple[list[int], list[float], list[float]]:  # type: ignore[no-untyped-def]
    ours, ref, x, y, xv, yv = _setup()
    steps: list[int] = []
    val: list[float] = []

    def evaluate(epoch: int, **_: float) -> None:
        with no_grad():
            val.append(float(cross_entropy(ours(Tensor(xv)), yv).data))
        steps.append(epoch)

    fit(ours, Adam(list(ours.parameters()), lr=0.01), x, y, 12, log=evaluate)
    return steps, val, _torch_val_losses(ref, x, y, xv, yv, 12)


def test_log_sees_the_model_after_each_epochs_step() -> None:
    steps, val, ref = _fit_with_eval()
    assert steps == list(range(12))
    np.testing.assert_allclose(val, ref, rtol=1e-10, atol=0)


def test_a_loop_that_logs_before_its_step_is_caught() -> None:
    def log_first(model, opt, x, y, epochs, *, log, log_every=1):  # type: ignore[no-untyped-def]
        xt = Tensor(x)
        for epoch in range(epochs):
            log(epoch)
            opt.zero_grad()
            cross_entropy(model(xt), y).backward()
            opt.step()
        return 0.0, None

    _, val, ref = _fit_with_eval(log_first)
    assert not np.allclose(val, ref, rtol=1e-6)
