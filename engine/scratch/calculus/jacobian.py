"""Analytical Jacobians and their finite-difference checks.

softmax: J = diag(p) - p p^T (symmetric). Cross-entropy from logits: dL/dz = softmax(z) -
one_hot(y). A tiny MLP y = W2 relu(W1 x + b1) + b2: dy/dW1[a, b] = W2[:, a] relu'(h_pre[a]) x[b],
laid out row-major (column 3a + b for a 4 x 3 W1). Central differences with h = 1e-5 in fp64
agree to about 1e-10; at a ReLU kink they do not, and the analytical value (relu'(0) = 0) is a
convention, not an error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.scratch.numerics.softmax import log_sum_exp, stable_softmax


def softmax(z: np.ndarray) -> np.ndarray:
    return stable_softmax(np.asarray(z, dtype=np.float64))


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    p = softmax(z)
    return np.diag(p) - np.outer(p, p)


def numerical_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """J[i, j] = (f(x + h e_j)_i - f(x - h e_j)_i) / 2h."""
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = h
        cols.append((np.atleast_1d(f(x + e)) - np.atleast_1d(f(x - e))).reshape(-1) / (2 * h))
    return np.stack(cols, axis=1)


def softmax_jacobian_fd(z: np.ndarray, h: float = 1e-5) -> np.ndarray:
    return numerical_jacobian(softmax, z, h)


def ce_loss(z: np.ndarray, y: int) -> float:
    z = np.asarray(z, dtype=np.float64)
    return float(log_sum_exp(z) - z[y])


def ce_grad(z: np.ndarray, y: int) -> np.ndarray:
    g = softmax(z)
    g[y] -= 1.0
    return g


def ce_grad_fd(z: np.ndarray, y: int, h: float = 1e-5) -> np.ndarray:
    return numerical_jacobian(lambda v: np.array([ce_loss(v, y)]), z, h)[0]


def mlp(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h_pre = w1 @ x + b1
    h = np.maximum(h_pre, 0.0)
    return w2 @ h + b2, h_pre, h


def analytical_jacobian_w1(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """dy/dW1 as (outputs, W1.size): W2 diag(relu'(h_pre)) (dh_pre/dW1), with dh_pre/dW1 = I kron x^T."""
    _, h_pre, _ = mlp(x, w1, b1, w2, b2)
    dh_pre_dw1 = np.kron(np.eye(w1.shape[0]), x[None, :])  # (hidden, hidden*inputs), column 3a+b
    return w2 @ np.diag((h_pre > 0).astype(np.float64)) @ dh_pre_dw1


def numerical_jacobian_w1(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray,
                          h: float = 1e-5) -> np.ndarray:
    return numerical_jacobian(lambda flat: mlp(x, flat.reshape(w1.shape), b1, w2, b2)[0], w1.reshape(-1), h)
