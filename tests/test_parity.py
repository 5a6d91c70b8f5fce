"""engine.torchstack.parity: the "ours vs torch" loops the labs report, each against torch.optim /
torch autograd in float64, and each shown to open a gap when handed a broken copy of the scratch piece."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.scratch.autograd.tensor import Tensor, cross_entropy  # noqa: E402
from engine.scratch.calculus import optim_steps as O  # noqa: E402
from engine.scratch.nn import GELU, Identity, Linear, Module  # noqa: E402
from engine.scratch.optim import SGD, AdamW  # noqa: E402
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


@pytest.mark.parametrize("kind", sorted(P.OPTIMIZER_CASES))
def test_optimizer_vs_torch_is_rounding_for_our_optimizers(kind: str) -> None:
    assert P.optimizer_vs_torch(kind, steps=50) < 1e-10


def test_optimizer_vs_torch_sees_a_broken_optimizer() -> None:
    class SGDIgnoringDecay(SGD):
        def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):  # type: ignore[no-untyped-def]
            super().__init__(params, lr=lr, momentum=momentum)

    assert P.optimizer_vs_torch("sgd_wd", steps=50, cls=SGDIgnoringDecay) > 1e-4
    assert P.optimizer_vs_torch("adam_l2", steps=50, cls=AdamW) > 1e-4  # decoupled decay is not Adam's L2


def _worked(act: Module) -> tuple[Linear, Linear, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3)), np.array([1, 0])
    fc1, fc2 = Linear(3, 4, rng=rng, dtype=np.float64), Linear(4, 2, rng=rng, dtype=np.float64)
    loss = cross_entropy(fc2(act(fc1(Tensor(x)))), y)
    loss.backward()
    return fc1, fc2, x, y, loss.item()


def test_mlp_vs_torch_matches_gelu_and_sees_a_missing_activation_or_gradient() -> None:
    assert P.mlp_vs_torch(*_worked(GELU())) < 1e-12
    assert P.mlp_vs_torch(*_worked(Identity())) > 1e-3
    fc1, fc2, x, y, loss = _worked(GELU())
    assert fc1.bias is not None and fc1.bias.grad is not None
    fc1.bias.grad = fc1.bias.grad * 1.5
    assert P.mlp_vs_torch(fc1, fc2, x, y, loss) > 1e-6


def test_mse_vs_torch_and_the_init_bound() -> None:
    good = P.mse_and_init_vs_torch(np.random.default_rng(1))
    assert good["mse_vs_torch_err"] < 1e-15 and 0.9 < good["init_max_over_torch_bound"] <= 1.0

    def summed(pred: Tensor, target: Tensor) -> Tensor:
        diff = pred - target
        return (diff * diff).sum()

    assert P.mse_and_init_vs_torch(np.random.default_rng(1), mse=summed)["mse_vs_torch_err"] > 1.0
