"""The scratch stack checked against torch in float64: the numbers a lab reports as "ours vs torch".

Why here: the comparison loops are code written on torch (torchstack may import scratch, not the
other way round), and a lab entry is glue, so the loops that step our optimizer and torch's side by
side live here where tests reach them. Each function takes the scratch piece it checks as an
argument (default: the real one), so a test can hand in a broken copy and see the gap open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from engine.scratch.calculus import optim_steps as O

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

