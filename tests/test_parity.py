"""engine.torchstack.parity: the "ours vs torch" loops the labs report, each against torch.optim /
torch autograd in float64, and each shown to open a gap when handed a broken copy of the scratch piece."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.scratch.calculus import optim_steps as O  # noqa: E402
from engine.torchstack import parity as P  # noqa: E402


def test_rosenbrock_paths_match_torch_optim() -> None:
    out = P.rosenbrock_paths_vs_torch(steps=40)
    assert set(out) == {"grad_vs_autograd", "sgd", "momentum", "adam", "adamw"}
    assert all(v < 1e-10 for v in out.values()), out


def test_rosenbrock_paths_see_a_broken_step_and_gradient() -> None:
    def no_bias_correction(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):  # type: ignore[no-untyped-def]
        t = state.get("t", 0) + 1
        m = beta1 * state.get("m", np.zeros_like(params)) + (1 - beta1) * grads
        v = beta2 * state.get("v", np.zeros_like(params)) + (1 - beta2) * grads * grads
        return params - lr * m / (np.sqrt(v) + eps), {"m": m, "v": v, "t": t}

    def dampened_momentum(params, grads, state, lr, beta=0.9):  # type: ignore[no-untyped-def]
        v = beta * state.get("v", np.zeros_like(params)) + (1 - beta) * grads
        return params - lr * v, {"v": v}

    out = P.rosenbrock_paths_vs_torch(steps=40, step_fns={"adam": no_bias_correction, "momentum": dampened_momentum},
                                      grad=lambda p: O.rosenbrock_grad(p) * np.array([1.0, 0.5]))
    assert out["adam"] > 1e-3 and out["momentum"] > 1e-3 and out["grad_vs_autograd"] > 1.0
    assert out["sgd"] < 1e-10 and out["adamw"] < 1e-10
