"""engine/lm/train/lstm.py (phase 14's LSTM loop): losses, gradient norms and cell maxima against the same
LSTM and Adam written in torch (fp64), and the stop rule (no step once a value is non-finite); both
checks are also run on broken copies of fit_lstm, which they must reject."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine.lm.train.lstm as L
from engine.lm.models.seq.lstm import LSTM
from engine.scratch.optim import Adam

torch = pytest.importorskip("torch")

SEQ = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3])
VOCAB, DE, DH = 10, 4, 6


def _torch_reference(model: LSTM, steps: int, lr: float) -> dict[str, list[float]]:
    """The LSTM's equations and the loop's order (loss, grads, norm, step) in torch, float64."""
    w = {k: torch.tensor(getattr(model, k).data, dtype=torch.float64, requires_grad=True)
         for k in ("E", "W", "b", "W_hy", "b_y")}
    opt = torch.optim.Adam(list(w.values()), lr=lr)
    x, y, d = torch.from_numpy(SEQ[:-1]), torch.from_numpy(SEQ[1:]), DH
    out: dict[str, list[float]] = {"loss": [], "grad_norm": [], "cell_max": []}
    for _ in range(steps):
        h, c, hs, cells = torch.zeros(1, d, dtype=torch.float64), torch.zeros(1, d, dtype=torch.float64), [], []
        for t in range(len(x)):
            pre = torch.cat([w["E"][x[t:t + 1]], h], dim=1) @ w["W"] + w["b"]
            i, f, o = pre[:, :d].sigmoid(), pre[:, d:2 * d].sigmoid(), pre[:, 2 * d:3 * d].sigmoid()
            g = pre[:, 3 * d:].tanh()
            c = f * c + i * g
            h = o * c.tanh()
            hs.append(h)
            cells.append(float(c.detach().abs().max()))
        loss = torch.nn.functional.cross_entropy(torch.cat(hs) @ w["W_hy"] + w["b_y"], y)
        opt.zero_grad()
        loss.backward()
        out["loss"].append(loss.item())
        out["grad_norm"].append(float(torch.sqrt(sum((p.grad ** 2).sum() for p in w.values()))))
        out["cell_max"].append(max(cells))
        opt.step()
    return out


def _broken(old: str, new: str) -> Callable[..., dict[str, Any]]:
    """fit_lstm with one line changed: a copy the tests must reject."""
    src = inspect.getsource(L.fit_lstm)
    assert src.count(old) == 1
    ns: dict[str, Any] = {}
    exec(compile(src.replace(old, new), "<broken fit_lstm>", "exec"), vars(L).copy() | ns, ns)  # noqa: S102
    return ns["fit_lstm"]


def _matches_torch(fit: Callable[..., dict[str, Any]]) -> None:
    model = LSTM(VOCAB, DE, DH, seed=3, init_std=0.5, dtype=np.float64)
    ref = _torch_reference(model, 6, 0.05)
    logged: dict[str, list[float]] = {"loss": [], "grad_norm": [], "cell_max": []}

    def log(step: int, **m: Any) -> None:
        for k in logged:
            logged[k].append(m[k])

    res = fit(model, Adam(model.parameters(), lr=0.05), SEQ, 6, log=log)
    for k in logged:
        np.testing.assert_allclose(logged[k], ref[k], rtol=1e-10, atol=0, err_msg=k)
    assert res["first_nonfinite_step"] is None and res["final_loss"] == logged["loss"][-1]
    assert res["cell_max"] == max(logged["cell_max"]) == res["finite_cell_max"]


class _CountingAdam(Adam):
    steps = 0

    def step(self) -> None:
        self.steps += 1
        super().step()


def _stops_before_a_bad_step(fit: Callable[..., dict[str, Any]]) -> None:
    model = LSTM(VOCAB, DE, DH, seed=0, init_std=3.0, gate_sigmoid=False, dtype=np.float32)
    opt = _CountingAdam(model.parameters(), lr=0.5)
    oks: list[bool] = []
    res = fit(model, opt, np.tile(SEQ, 4), 40, log=lambda step, **m: oks.append(m["ok"]))
    bad = res["first_nonfinite_step"]
    assert bad is not None and oks == [True] * (bad - 1) + [False]
    assert opt.steps == bad - 1, "a step was applied with a non-finite loss, gradient or cell state"
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    assert res["cell_max"] == float("inf") and 0 < res["finite_cell_max"] < float("inf")


def test_fit_lstm_matches_torch_fp64() -> None:
    _matches_torch(L.fit_lstm)


def test_fit_lstm_stops_before_stepping_on_a_non_finite_value() -> None:
    _stops_before_a_bad_step(L.fit_lstm)


def test_broken_copies_are_rejected() -> None:
    no_zero_grad = _broken("            model.zero_grad()\n", "")
    with pytest.raises(AssertionError):
        _matches_torch(no_zero_grad)
    step_first = _broken("        if not ok:\n", "        opt.step()\n        if not ok:\n")
    with pytest.raises(AssertionError):
        _stops_before_a_bad_step(step_first)
