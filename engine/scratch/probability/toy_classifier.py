"""A 5-way softmax regression on Gaussian classes, trained with plain NumPy SGD.

Features are 8-dimensional; each tense class has its own mean. A well-specified logistic
regression on plenty of data is already close to calibrated, so the lab trains on a small
training set for many epochs without regularisation: the weights grow, the logits stretch,
and the model becomes over-confident, the situation temperature scaling is for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.scratch.probability.logits import softmax


def gaussian_classes(n: int, rng: np.random.Generator, means: np.ndarray, scale: float = 1.0
                     ) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, means.shape[0], n)
    return means[y] + scale * rng.standard_normal((n, means.shape[1])), y


def make_data(seed: int, n_train: int, n_val: int, n_test: int, dim: int = 8, n_classes: int = 5,
              separation: float = 1.5) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    means = separation * rng.standard_normal((n_classes, dim))
    out = {"means": means}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        out[split] = gaussian_classes(n, rng, means)
    return out


def train_softmax_regression(x: np.ndarray, y: np.ndarray, n_classes: int, epochs: int, lr: float,
                             batch: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[float]]:
    rng = np.random.default_rng(seed)
    w = np.zeros((x.shape[1], n_classes))
    b = np.zeros(n_classes)
    losses = []
    onehot = np.eye(n_classes)[y]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for s in range(0, len(y), batch):
            i = order[s:s + batch]
            p = softmax(x[i] @ w + b)
            g = (p - onehot[i]) / len(i)  # dCE/dlogits, averaged
            w -= lr * x[i].T @ g
            b -= lr * g.sum(axis=0)
        p = softmax(x @ w + b)
        losses.append(float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-300)))))
    return w, b, losses
