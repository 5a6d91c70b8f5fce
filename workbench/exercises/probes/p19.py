"""Phase 19 probes: the chunked Welford merge, the overfit detector, the spike detector and clipping.

Welford is fed scalars, empty arrays and uneven chunks of shifted data (the case where the
naive sum-of-squares formula fails) and compared with NumPy and with the reference. The
detectors run on random curves with planted minima and spikes, plus the edge cases the
course names: a window not yet full, a flat window (MAD 0), NaN losses, a never-rising curve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.lm.dynamics.stats import SpikeDetector, Welford
from engine.scratch.autograd.tensor import Tensor
from workbench.exercises.probes._compare import compare


def welford(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for shift in (0.0, 1e6, -3e3):
        data = rng.normal(shift, 2.0, size=int(rng.integers(50, 400)))
        pieces: list[Any] = [float(data[0]), np.zeros(0), data[1:2]]
        pieces += np.array_split(data[2:], int(rng.integers(2, 9)))
        states = []
        for side in (learner, reference):
            w = Welford()
            with side:
                for p in pieces:
                    w.update(p)
            states.append(w)
        what = f"{len(pieces)} chunks of N({shift:g}, 2)"
        for field in ("n", "mean", "m2", "min", "max", "sumsq"):
            out += compare("Welford.update", f"{field}, {what}", float(getattr(states[0], field)),
                           float(getattr(states[1], field)), rtol=1e-9, atol=1e-9)
        out += compare(
            "Welford.update",
            f"variance (ddof 1) against numpy, {what}",
            states[0].var(),
            float(data.var(ddof=1)),
            rtol=1e-8,
            atol=1e-10,
        )
    with learner:
        one = Welford().update(3.5)
    out += compare("Welford.update", "a single value: n, mean, min, max", [one.n, one.mean, one.min, one.max],
                   [1, 3.5, 3.5, 3.5])
    return out


def overfit(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    curves = [[3.0, 2.0, 1.0, 0.9, 0.8], [1.0] * 12, [2.0, 1.0, 1.03, 1.01, 1.05, 1.1, 1.2, 1.3, 1.4],
              [2.0, 1.0, 1.05, 1.01, 1.05, 1.05, 1.05, 1.05], [2.0, 1.0, 1.05, 1.05, 1.01, 1.05, 1.05, 1.05, 1.05]]
    for _ in range(25):
        n = int(rng.integers(5, 40))
        lo = int(rng.integers(1, n))
        v = np.concatenate([np.linspace(3.0, 1.0, lo), 1.0 + np.cumsum(rng.uniform(0.0, 0.05, n - lo))])
        v += rng.normal(0, 0.01, n)
        curves.append(v.tolist())
    for i, val in enumerate(curves):
        steps = [50 * (j + 1) for j in range(len(val))]
        for patience, tol in ((5, 0.02), (1, 0.0), (3, 0.05)):
            out += compare("overfit_detector", f"curve #{i} ({len(val)} evaluations), patience {patience}, tol {tol}",
                           learner.overfit_detector(steps, val, patience, tol),
                           reference.overfit_detector(steps, val, patience, tol))
    return out


def spikes_and_clip(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    series = [list(rng.normal(2.0, 0.05, 120)), [1.0] * 80 + [1.0 + 1e-3] + [1.0] * 10,
              [1.0] * 60 + [1.0 + 1e-12, 1.0 - 1e-12, 1.0 + 2e-9]]  # a flat window: rounding noise is no spike
    planted = list(rng.normal(1.0, 0.02, 150))
    planted[60], planted[61], planted[100] = 5.0, float("nan"), -3.0
    series.append(planted)
    series.append(list(rng.normal(0, 1, 30)))  # never fills a 50-wide window
    for i, values in enumerate(series):
        for window, k in ((50, 5.0), (10, 3.0)):
            flags = []
            for side in (learner, reference):
                det = SpikeDetector(window=window, k=k)
                with side:
                    flags.append([det.update(float(v)) for v in values])
            out += compare("SpikeDetector.update", f"series #{i} ({len(values)} values), window {window}, k {k}",
                           flags[0], flags[1])
    for scale, max_norm in ((20.0, 1.0), (0.01, 1.0), (1.0, None), (5.0, math.inf), (4.0, 0.25)):
        grads = [rng.normal(size=(4, 3)) * scale, rng.normal(size=7) * scale]
        results = []
        for side in (learner, reference):
            params = [Tensor(np.zeros(g.shape)) for g in grads] + [Tensor(np.zeros(2))]
            for p, g in zip(params, grads, strict=False):
                p.grad = g.copy()
            pre_post = side.clip_grad_norm(params, max_norm)
            results.append((pre_post, [p.grad for p in params[:2]]))
        what = f"gradients of scale {scale}, max_norm {max_norm}"
        out += compare("clip_grad_norm", f"(pre, post) norms, {what}", results[0][0], results[1][0])
        out += compare("clip_grad_norm", f"clipped gradients, {what}", results[0][1], results[1][1])
    return out
