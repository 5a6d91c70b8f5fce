"""Phase 18 probes: batches and the resumable iterator, the schedule and clipping, one training step.

Batches are compared on random ragged lengths (length 1 and length 2 included) and a non-zero
pad id. The iterator must yield the reference's index sequence across three epochs with a
partial last batch. The schedule is compared at every step around warmup, the cosine's end
and past it (warmup 0 included); clipping on gradients above, at and below the limit, with a
missing gradient and max_norm None. A training step runs three times from identical states
and must give the reference's losses, learning rates, norms and parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.train.data import BatchIterator
from engine.lm.train.recipe import FULL, datasets, deep_merge, make_state
from engine.scratch.autograd.tensor import Tensor
from workbench.exercises.probes._compare import compare


def batches(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for lengths in ([6, 11, 9, 14], [2], [2, 2], [1, 3], list(rng.integers(2, 12, 7))):
        seqs = [list(rng.integers(3, 60, int(n))) for n in lengths]
        for pad in (0, 63):
            out += compare("make_batch", f"lengths {list(map(int, lengths))}, pad id {pad}",
                           learner.make_batch(seqs, pad), reference.make_batch(seqs, pad))
    seqs = [[1, int(i), 2] for i in range(23)]
    for size in (5, 23, 30):
        seed = int(rng.integers(1 << 20))
        drawn = []
        for side in (learner, reference):
            with side:
                it = BatchIterator(seqs, size, seed)
                drawn.append([it.next_indices().tolist() for _ in range(3 * -(-23 // size) + 1)])
        out += compare(
            "BatchIterator.next_indices", f"23 examples in batches of {size}, three epochs", drawn[0], drawn[1]
        )
    return out


def schedule(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for lr_max, lr_min, warm, total in (
        (3e-4, 3e-5, 100, 2000),
        (1e-3, 0.0, 0, 50),
        (1.0, 0.1, 7, 8),
        (2e-3, 1e-4, 10, 40),
    ):
        steps = sorted(
            {0, 1, warm - 1, warm, warm + 1, total - 1, total, total + 5, *rng.integers(0, total + 3, 12).tolist()}
        )
        for s in (x for x in steps if x >= 0):
            out += compare(
                "lr_at",
                f"step {s} (max {lr_max}, min {lr_min}, warmup {warm}, total {total})",
                learner.lr_at(int(s), lr_max, lr_min, warm, total),
                reference.lr_at(int(s), lr_max, lr_min, warm, total),
            )
    for scale, max_norm in ((10.0, 1.0), (0.1, 1.0), (1.0, None), (3.0, float("inf")), (5.0, 0.5)):
        grads = [rng.normal(size=(3, 4)) * scale, rng.normal(size=5) * scale, None]
        results = []
        for side in (learner, reference):
            params = []
            for g in grads:
                t = Tensor(np.zeros((3, 4) if g is None else g.shape))
                t.grad = None if g is None else g.copy()
                params.append(t)
            norm = side.clip_grad_norm_(params, max_norm)
            results.append((norm, [p.grad for p in params if p.grad is not None]))
        what = f"gradients of scale {scale}, max_norm {max_norm}"
        out += compare("clip_grad_norm_", f"returned norm (before clipping), {what}", results[0][0], results[1][0])
        out += compare("clip_grad_norm_", f"clipped gradients, {what}", results[0][1], results[1][1])
    return out


def _state(seed: int) -> Any:
    config = deep_merge(FULL, {"model": {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32},
                               "optimizer": {"lr_max": 3e-3, "lr_min": 3e-4, "clip": 0.5},
                               "scheduler": {"warmup_steps": 2, "total_steps": 6},
                               "training": {"batch_size": 4, "rng_seed": seed, "data_seed": seed}})
    data = datasets(config)
    return make_state(config, data["train"][:24])


def step(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    seed = int(rng.integers(1 << 20))
    runs = []
    for side in (learner, reference):
        state = _state(seed)
        with side:
            recs = [side.train_step(state) for _ in range(4)]
        runs.append((recs, {n: p.data.copy() for n, p in state.model.named_parameters()}, state.step))
    for i, (a, b) in enumerate(zip(runs[0][0], runs[1][0], strict=True)):
        for key in ("loss", "lr", "g_norm"):
            out += compare("train_step", f"{key} at step {i}", a.get(key), b[key], rtol=1e-5, atol=1e-7)
    out += compare("train_step", "state.step after four steps", runs[0][2], runs[1][2])
    for name, want in runs[1][1].items():
        out += compare("train_step", f"parameter {name} after four steps", runs[0][1][name], want, rtol=1e-4, atol=1e-6)
    state = _state(seed)
    inp, tgt, lm, am = state.data.next_batch()
    lm = lm.copy()
    lm[:, -3:] = 0.0  # fewer real targets: the token mean must divide by the mask's sum
    got = learner.masked_loss(state.model, inp, tgt, lm, am).item()
    want = reference.masked_loss(state.model, inp, tgt, lm, am).item()
    out += compare("masked_loss", "token-mean loss under a padding mask", got, want, rtol=1e-6, atol=1e-8)
    return out
