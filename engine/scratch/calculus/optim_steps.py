"""SGD, Momentum, Adam and AdamW as pure functions, and the Rosenbrock valley to race them on.

Each step is `(params, grads, state, lr, ...) -> (new_params, new_state)` on NumPy arrays;
nothing is mutated, so a trajectory is a list of snapshots. Momentum is the undampened form
(v = beta v + g). AdamW decays weights outside the adaptive step, so with weight_decay = 0
it is Adam exactly. Rosenbrock f = (1 - x)^2 + 100 (y - x^2)^2 has its minimum 0 at (1, 1)
at the end of a long curved valley: plain SGD crawls along it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

State = dict[str, Any]


def sgd_step(params: np.ndarray, grads: np.ndarray, state: State, lr: float) -> tuple[np.ndarray, State]:
    return params - lr * grads, state


def momentum_step(params: np.ndarray, grads: np.ndarray, state: State, lr: float, beta: float = 0.9
                  ) -> tuple[np.ndarray, State]:
    v = beta * state.get("v", np.zeros_like(params)) + grads
    return params - lr * v, {"v": v}


def adam_step(params: np.ndarray, grads: np.ndarray, state: State, lr: float, beta1: float = 0.9,
              beta2: float = 0.999, eps: float = 1e-8) -> tuple[np.ndarray, State]:
    t = state.get("t", 0) + 1
    m = beta1 * state.get("m", np.zeros_like(params)) + (1 - beta1) * grads
    v = beta2 * state.get("v", np.zeros_like(params)) + (1 - beta2) * grads * grads
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return params - lr * m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v, "t": t}


def adamw_step(params: np.ndarray, grads: np.ndarray, state: State, lr: float, beta1: float = 0.9,
               beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01) -> tuple[np.ndarray, State]:
    decayed = params - lr * weight_decay * params if weight_decay else params
    return adam_step(decayed, grads, state, lr, beta1, beta2, eps)


def rosenbrock(p: np.ndarray) -> float:
    x, y = p
    return float((1 - x) ** 2 + 100 * (y - x * x) ** 2)


def rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def run(step_fn: Callable[..., tuple[np.ndarray, State]], lr: float, n_steps: int = 2000,
        start: tuple[float, float] = (-1.5, 2.0), **kw: Any) -> dict[str, Any]:
    """Trajectory (n_steps + 1 points), losses and gradient norms of one optimizer from `start`."""
    p = np.array(start, dtype=np.float64)
    state: State = {}
    path, losses, gnorms = [p.copy()], [rosenbrock(p)], []
    for _ in range(n_steps):
        g = rosenbrock_grad(p)
        gnorms.append(float(np.linalg.norm(g)))
        p, state = step_fn(p, g, state, lr, **kw)
        path.append(p.copy())
        losses.append(rosenbrock(p))
    return {"path": np.array(path), "loss": np.array(losses), "grad_norm": np.array(gnorms),
            "final": p, "distance": float(np.linalg.norm(p - np.array([1.0, 1.0])))}
