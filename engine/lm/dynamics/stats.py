"""The maths behind the dashboard panels, as small pure functions over NumPy arrays.

- Welford: a running mean/variance/min/max/L2 that is numerically stable and can absorb a
  whole array at once (Chan's parallel merge), so a hook can fold in one activation tensor
  per step without keeping history.
- Global gradient norm sqrt(sum ||g||_F^2) and global-norm clipping (one scale for every
  tensor, so the update keeps its direction; per-tensor clipping would not).
- grad/weight ratio ||G||_F / (||W||_F + 1e-12) and update/weight ratio ||dW|| / ||W||.
- sigma_1 of a weight matrix by power iteration, warm-startable from the previous vector.
- Dead units: |h| < eps on more than 99 % of rows. Dead heads: attention entropy below
  log 2 on more than 99 % of query rows, skipping the first two positions (under a causal
  mask query 0 has entropy 0 and query 1 at most log 2 by construction).
- Spike detector: flag step t when |L_t - median| > k * MAD over the previous `window`
  losses; silent until the window is full.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from engine.lm.train.optim import global_grad_norm  # the one home; the clip below reports through it


# ---------------------------------------------------------------------- Welford
@dataclass
class Welford:
    """Running n, mean, M2 (sum of squared deviations), min, max and sum of squares."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    sumsq: float = 0.0

    def update(self, x: float | np.ndarray) -> Welford:
        """Fold in one value or every element of an array (Chan et al.'s merge of two partitions)."""
        a = np.asarray(x, dtype=np.float64).ravel()
        if a.size == 0:
            return self
        nb = a.size
        mb = float(a.sum()) / nb
        d = a - mb
        m2b = float(np.dot(d, d))
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n
        self.min = min(self.min, float(a.min()))
        self.max = max(self.max, float(a.max()))
        self.sumsq += float(np.dot(a, a))
        return self

    def var(self, ddof: int = 1) -> float:
        return self.m2 / (self.n - ddof) if self.n > ddof else math.nan

    @property
    def l2(self) -> float:
        return math.sqrt(self.sumsq)

    def as_dict(self) -> dict[str, float]:
        return {"n": float(self.n), "mean": self.mean, "var": self.var(), "min": self.min, "max": self.max,
                "l2": self.l2}


def welford_update(state: Welford | None, x: float | np.ndarray) -> Welford:
    """The course's functional spelling: returns the (mutated) state, creating it on first use."""
    return (state or Welford()).update(x)


# ---------------------------------------------------------------------- gradients
def clip_grad_norm(params: Iterable, max_norm: float | None) -> tuple[float, float]:
    """Scale every `.grad` by min(1, max_norm / norm) in place; returns (pre, post) global norms.

    `max_norm` None or inf means no clipping (post == pre). Non-finite norms are left alone so
    the NaN shows on the dashboard instead of being hidden.
    """
    params = [p for p in params if p.grad is not None]
    pre = global_grad_norm(params)
    if max_norm is None or not math.isfinite(max_norm) or not math.isfinite(pre) or pre <= max_norm:
        return pre, pre
    scale = max_norm / (pre + 1e-12)
    for p in params:
        p.grad = p.grad * np.asarray(scale, dtype=p.grad.dtype)
    return pre, global_grad_norm(params)


def grad_to_weight_ratio(grad: np.ndarray, weight: np.ndarray) -> float:
    """||G||_F / (||W||_F + 1e-12); the course's healthy band is [1e-4, 1e-1]."""
    return float(np.linalg.norm(grad) / (np.linalg.norm(weight) + 1e-12))


def update_to_weight_ratio(before: np.ndarray, after: np.ndarray) -> float:
    """||W_after - W_before||_F / (||W_before||_F + 1e-12): how far one optimizer step moved W."""
    return float(np.linalg.norm(after.astype(np.float64) - before) / (np.linalg.norm(before) + 1e-12))


# ---------------------------------------------------------------------- weights
def spectral_norm(w: np.ndarray, iters: int = 10, v0: np.ndarray | None = None,
                  rng: np.random.Generator | None = None) -> tuple[float, np.ndarray]:
    """Largest singular value of a 2-D matrix by power iteration; returns (sigma_1, v) for warm starts."""
    w = np.asarray(w, dtype=np.float64)
    if v0 is None:
        v0 = (rng or np.random.default_rng(0)).normal(size=w.shape[1])
    v = v0 / (np.linalg.norm(v0) + 1e-300)
    sigma = 0.0
    for _ in range(iters):
        u = w @ v
        sigma = float(np.linalg.norm(u))
        if sigma == 0.0 or not math.isfinite(sigma):
            return sigma, v
        u /= sigma
        v = w.T @ u
        v /= np.linalg.norm(v) + 1e-300
    return float(np.linalg.norm(w @ v)), v


# ---------------------------------------------------------------------- capacity
def dead_units(h: np.ndarray, eps: float = 1e-3, frac: float = 0.99) -> int:
    """Units (last axis) whose |activation| is below eps on more than `frac` of all rows."""
    a = np.abs(np.asarray(h)).reshape(-1, h.shape[-1])
    return int(((a < eps).mean(axis=0) > frac).sum())


def attention_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy -sum p log p over the last axis (0 log 0 = 0)."""
    p = np.asarray(probs, dtype=np.float64)
    return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)).sum(axis=-1)


def dead_heads(probs: np.ndarray, frac: float = 0.99, skip_first: int = 2) -> int:
    """Heads (axis 1 of (B, H, T, T)) whose query rows have entropy < log 2 more than `frac` of the time.

    Query rows 0..skip_first-1 are left out: causally they cannot exceed log 2 anyway.
    """
    h = attention_entropy(probs)[:, :, skip_first:]  # (B, H, T - skip)
    if h.shape[-1] == 0:
        return 0
    low = (h < math.log(2)).transpose(1, 0, 2).reshape(h.shape[1], -1)
    return int((low.mean(axis=1) > frac).sum())


# ---------------------------------------------------------------------- spikes
@dataclass
class SpikeDetector:
    """Rolling median + k * MAD over the last `window` values; quiet until the window is full.

    MAD is the median absolute deviation (unscaled). A flat window has MAD 0; a floor of
    `min_mad` keeps rounding noise from firing.
    """

    window: int = 50
    k: float = 5.0
    min_mad: float = 1e-8
    history: deque = field(default_factory=deque)

    def update(self, value: float) -> bool:
        spike = False
        if len(self.history) >= self.window:
            arr = np.fromiter(self.history, dtype=np.float64)
            med = float(np.median(arr))
            mad = max(float(np.median(np.abs(arr - med))), self.min_mad)
            spike = (not math.isfinite(value)) or abs(value - med) > self.k * mad
            self.history.popleft()
        self.history.append(value)
        return bool(spike)


def detect_spikes(values: Iterable[float], window: int = 50, k: float = 5.0) -> list[int]:
    """Indices flagged by a fresh SpikeDetector run over `values`."""
    det = SpikeDetector(window=window, k=k)
    return [i for i, v in enumerate(values) if det.update(float(v))]
