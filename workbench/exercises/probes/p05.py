"""Phase 05 probes: entropy, KL and cross-entropy; log-softmax from logits; calibration bins."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree, compare


def _dists(rng: np.random.Generator) -> list[np.ndarray]:
    out = [rng.dirichlet(np.ones(n)) for n in (1, 2, 5, 600)]
    out.append(rng.dirichlet(np.full(50, 0.05)))  # very peaked
    sparse = rng.dirichlet(np.ones(6))
    sparse[[1, 4]] = 0.0
    out.append(sparse / sparse.sum())  # zeros: 0 log 0 = 0
    out.append(np.eye(5)[2])  # one-hot
    return out


def information(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    ps = _dists(rng)
    out = agree(
        learner,
        reference,
        "entropy",
        [(f"p over {p.size} outcomes ({int((p == 0).sum())} zeros)", (p,)) for p in ps],
        rtol=1e-12,
        atol=1e-15,
    )
    pairs = []
    for p in ps:
        q = rng.dirichlet(np.ones(p.size))
        pairs.append((f"p, q over {p.size} outcomes", (p, q)))
        pairs.append((f"p against itself over {p.size}", (p, p.copy())))
        if p.size > 2:
            hole = q.copy()
            hole[np.argmax(p)] = 0.0
            pairs.append((f"q with a zero where p has mass ({p.size} outcomes)", (p, hole / hole.sum())))
    for name in ("kl", "cross_entropy"):
        out += agree(learner, reference, name, pairs, rtol=1e-12, atol=1e-15)
    return out


def logits(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    zs = [rng.normal(size=n) * s for n in (1, 5, 600) for s in (1.0, 100.0)] + [np.array([1000.0, -1000.0, 0.0])]
    batch = [
        (f"a ({b}, {v}) batch x{s:g}", (rng.normal(size=(b, v)) * s,))
        for b, v in [(4, 5), (1, 7), (3, 600)]
        for s in (1.0, 300.0)
    ]
    out = agree(
        learner,
        reference,
        "log_softmax",
        [(f"{z.size} logits, max |z| {np.abs(z).max():.3g}", (z,)) for z in zs] + batch,
        rtol=1e-12,
        atol=1e-10,
    )
    ce = [(f"{z.size} logits, y={y}", (z, y)) for z in zs for y in {0, z.size - 1}]
    out += agree(learner, reference, "cross_entropy_from_logits", ce, rtol=1e-12, atol=1e-10)
    cases = []
    for b, v in [(8, 5), (1, 3), (64, 600)]:
        z = rng.normal(size=(b, v)) * 50
        cases.append((f"a ({b}, {v}) batch", (z, rng.integers(0, v, size=b))))
    out += agree(learner, reference, "cross_entropy_batch", cases, rtol=1e-12, atol=1e-10)
    return out


def calibration(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for n, k, bins in [(200, 5, 10), (50, 3, 5), (1000, 5, 15), (7, 2, 10)]:
        z = rng.normal(size=(n, k)) * rng.uniform(0.5, 4.0)
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        y = rng.integers(0, k, size=n)
        probs[0] = np.eye(k)[0] * 0.5 + 0.5 / k  # a confidence on a bin edge
        out += compare("reliability_bins", f"{n} predictions over {k} classes, {bins} bins",
                       learner.reliability_bins(probs, y, bins), reference.reliability_bins(probs, y, bins), rtol=1e-12)
        out += agree(learner, reference, "ece", [(f"{n} predictions, {bins} bins", (probs, y, bins))], rtol=1e-12)
        if out:
            return out
    return out
