"""Detection metrics written out: AUROC by Mann-Whitney U, PR curve, logistic calibration, ECE.

AUROC is the probability that a random positive scores above a random negative (ties count
half). Ranking all scores together (ties get their average rank), the positives' rank sum R
gives U = R - n_pos (n_pos + 1) / 2 and AUROC = U / (n_pos n_neg), in O(n log n) instead of
the O(n_pos n_neg) pair count it equals.
"""

from __future__ import annotations

import numpy as np


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = average_ranks(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def auroc_pair_count(pos: np.ndarray, neg: np.ndarray) -> float:
    """The definition, O(n_pos n_neg): for checking `auroc`."""
    diff = np.asarray(pos, dtype=np.float64)[:, None] - np.asarray(neg, dtype=np.float64)[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def pr_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Precision and recall at every distinct threshold (highest first) and average precision.

    AP = sum over thresholds of (recall step) * precision, the step-function area that does not
    interpolate optimistically between points.
    """
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]          # end of each tie group
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / max(y.sum(), 1.0)
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return precision, recall, ap


def fit_logistic(x: np.ndarray, y: np.ndarray, iters: int = 50, ridge: float = 1e-6) -> tuple[float, float]:
    """p = sigmoid(a + b x) by Newton's method on the mean log-loss (x standardised inside)."""
    mu, sd = float(x.mean()), float(x.std()) or 1.0
    z = (x - mu) / sd
    w = np.zeros(2)
    feats = np.stack([np.ones_like(z), z], axis=1)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-feats @ w))
        grad = feats.T @ (p - y) / len(y) + ridge * w
        hess = (feats * (p * (1 - p))[:, None]).T @ feats / len(y) + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0] - w[1] * mu / sd), float(w[1] / sd)


def predict_logistic(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(a + b * x)))


def reliability(prob: np.ndarray, y: np.ndarray, n_bins: int = 10,
                equal_mass: bool = False) -> tuple[list[dict[str, float]], float]:
    """Bins of predicted P(positive): mean prediction, observed rate, count; and the ECE over them.

    Equal-width bins by default; `equal_mass` puts the same number of predictions in each bin
    (the adaptive ECE), which keeps a diagram readable when a weak score's predictions all sit
    within a few points of the base rate.
    """
    if equal_mass:
        idx = np.minimum((np.argsort(np.argsort(prob, kind="mergesort")) * n_bins) // len(prob), n_bins - 1)
    else:
        idx = np.clip((prob * n_bins).astype(int), 0, n_bins - 1)
    rows, ece = [], 0.0
    for b in range(n_bins):
        m = idx == b
        if not m.any():
            continue
        pred, obs = float(prob[m].mean()), float(y[m].mean())
        rows.append({"bin": b, "predicted": pred, "observed": obs, "count": int(m.sum())})
        ece += m.mean() * abs(pred - obs)
    return rows, float(ece)
