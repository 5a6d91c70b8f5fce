"""The scratch stack checked against torch in float64: the numbers a lab reports as "ours vs torch".

Why here: the comparison loops are code written on torch (torchstack may import scratch, not the
other way round), and a lab entry is glue, so the loops that step our optimizer and torch's side by
side live here where tests reach them. Each function takes the scratch piece it checks as an
argument (default: the real one), so a test can hand in a broken copy and see the gap open.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.calculus import optim_steps as O
from engine.scratch.nn import Linear, MSELoss
from engine.scratch.optim import SGD, Adam, AdamW, Optimizer

StepFn = Callable[..., tuple[np.ndarray, O.State]]

# phase 04: name -> (our pure step, its kwargs, learning rate, torch optimizer factory)
ROSENBROCK_CASES: dict[str, tuple[StepFn, dict[str, float], float, Callable[[torch.Tensor], torch.optim.Optimizer]]] = {
    "sgd": (O.sgd_step, {}, 2e-3, lambda q: torch.optim.SGD([q], lr=2e-3)),
    "momentum": (O.momentum_step, {"beta": 0.9}, 2e-3, lambda q: torch.optim.SGD([q], lr=2e-3, momentum=0.9)),
    "adam": (O.adam_step, {}, 5e-2, lambda q: torch.optim.Adam([q], lr=5e-2)),
    "adamw": (O.adamw_step, {"weight_decay": 0.1}, 5e-2, lambda q: torch.optim.AdamW([q], lr=5e-2, weight_decay=0.1)),
}


def _rosen_torch(p: torch.Tensor) -> torch.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def rosenbrock_paths_vs_torch(steps: int = 60, step_fns: Mapping[str, StepFn] | None = None,
                              grad: Callable[[np.ndarray], np.ndarray] = O.rosenbrock_grad) -> dict[str, float]:
    """Max |ours - torch.optim| over a `steps`-step Rosenbrock trajectory from (-1.5, 2), per optimizer,
    and `grad_vs_autograd`: the hand-written gradient against autograd at every point of torch's Adam path.
    `step_fns` replaces some of our steps by name (a test's broken copy); `grad` the hand gradient checked."""
    out: dict[str, float] = {"grad_vs_autograd": 0.0}
    for name, (fn, kw, lr, make) in ROSENBROCK_CASES.items():
        ours = O.run((step_fns or {}).get(name, fn), lr, steps, (-1.5, 2.0), **kw)["path"]
        q = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
        opt, worst = make(q), 0.0
        for t in range(steps):
            opt.zero_grad()
            _rosen_torch(q).backward()
            if name == "adam" and q.grad is not None:
                g = grad(q.detach().numpy())
                out["grad_vs_autograd"] = max(out["grad_vs_autograd"], float(np.max(np.abs(g - q.grad.numpy()))))
            opt.step()
            worst = max(worst, float(np.max(np.abs(ours[t + 1] - q.detach().numpy()))))
        out[name] = worst
    return out


# phase 09: name -> (our optimizer class, kwargs shared with torch, torch.optim class name)
OPTIMIZER_CASES: dict[str, tuple[type[Optimizer], dict[str, float], str]] = {
    "adam": (Adam, {"lr": 1e-2}, "Adam"),
    "adam_l2": (Adam, {"lr": 1e-2, "weight_decay": 0.05}, "Adam"),
    "adamw": (AdamW, {"lr": 1e-2, "weight_decay": 0.1}, "AdamW"),
    "sgd": (SGD, {"lr": 0.01, "momentum": 0.9}, "SGD"),
    "sgd_wd": (SGD, {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05}, "SGD"),
}


def optimizer_vs_torch(kind: str, steps: int = 100, cls: type[Optimizer] | None = None) -> float:
    """Max |ours - torch| over `steps` steps on a quadratic in two parameter tensors (5 and 3 entries), float64.
    `cls` replaces our optimizer class of case `kind` (a test's broken copy); torch's stays."""
    rng = np.random.default_rng(5)
    inits, targets = [rng.normal(size=5), rng.normal(size=3)], [rng.normal(size=5), rng.normal(size=3)]
    ours = [Tensor(p0.copy(), requires_grad=True) for p0 in inits]
    theirs = [torch.tensor(p0.copy(), requires_grad=True) for p0 in inits]
    case_cls, kw, torch_name = OPTIMIZER_CASES[kind]
    opt: Optimizer = (cls or case_cls)(ours, **kw)
    topt = getattr(torch.optim, torch_name)(theirs, **kw)
    worst = 0.0
    for _ in range(steps):
        opt.zero_grad()
        sum(((p - Tensor(t)) ** 2).sum() for p, t in zip(ours, targets, strict=True)).backward()  # type: ignore[union-attr]
        opt.step()
        topt.zero_grad()
        sum(((p - torch.tensor(t)) ** 2).sum() for p, t in zip(theirs, targets, strict=True)).backward()  # type: ignore[union-attr]
        topt.step()
        gaps = (float(np.abs(p.data - q.detach().numpy()).max()) for p, q in zip(ours, theirs, strict=True))
        worst = max(worst, *gaps)
    return worst


def mlp_vs_torch(fc1: Linear, fc2: Linear, x: np.ndarray, y: np.ndarray, loss: float) -> float:
    """Max |ours - torch| of Linear -> GELU(tanh) -> Linear -> cross-entropy: the loss our forward gave
    (`loss`) and the four parameter gradients our backward left on `fc1`, `fc2`. torch always uses GELU,
    so an activation swapped out of our network shows as a gap."""
    assert fc1.bias is not None and fc2.bias is not None, "the worked example's layers have biases"
    tw1, tb1 = torch.tensor(fc1.weight.data, requires_grad=True), torch.tensor(fc1.bias.data, requires_grad=True)
    tw2, tb2 = torch.tensor(fc2.weight.data, requires_grad=True), torch.tensor(fc2.bias.data, requires_grad=True)
    tz = torch.tensor(x) @ tw1.T + tb1
    th = torch.nn.functional.gelu(tz, approximate="tanh")
    tloss = torch.nn.functional.cross_entropy(th @ tw2.T + tb2, torch.tensor(y))
    tloss.backward()
    err = abs(loss - tloss.item())
    for ours, theirs in [(fc1.weight, tw1), (fc1.bias, tb1), (fc2.weight, tw2), (fc2.bias, tb2)]:
        err = max(err, float(np.abs(ours.grad - theirs.grad.numpy()).max()))  # type: ignore[union-attr]
    return err


def mse_and_init_vs_torch(rng: np.random.Generator, mse: Callable[[Tensor, Tensor], Tensor] | None = None
                          ) -> dict[str, float]:
    """MSELoss value and gradient against torch (`mse`: our loss, default MSELoss()); the Linear init's
    largest |w| against torch's bound 1/sqrt(fan_in) (no torch draws here: results stay deterministic)."""
    pred, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    x = Tensor(pred.copy(), requires_grad=True)
    loss = (mse or MSELoss())(x, Tensor(target))
    loss.backward()
    t = torch.tensor(pred, requires_grad=True)
    tl = torch.nn.functional.mse_loss(t, torch.tensor(target))
    tl.backward()
    lin = Linear(256, 64, rng=rng)  # torch.nn.Linear draws U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    return {"mse_vs_torch_err": max(abs(loss.item() - tl.item()), float(np.abs(x.grad - t.grad.numpy()).max())),  # type: ignore[union-attr]
            "init_max_over_torch_bound": float(np.abs(lin.weight.data).max()) * math.sqrt(256)}
