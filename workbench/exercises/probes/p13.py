"""Phase 13 probes: the checked embedding lookup, CBOW pairs and forward, nearest neighbours, PCA.

Lookups are compared value for value (and gradient for gradient, duplicate ids included); ids
just outside the table on either side must raise IndexError. CBOW pairs are checked on short
streams (shorter than the window, exactly 2k + 1, random), the forward on tied and untied models.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.models.embeddings import CBOW, Embedding
from engine.scratch.autograd.tensor import Tensor
from workbench.exercises.probes._compare import compare


def lookup(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    emb = Embedding(11, 5, rng=np.random.default_rng(int(rng.integers(1 << 30))), dtype=np.float64)
    cases = [np.array([3, 3]), np.array([0]), np.array([10]), rng.integers(0, 11, (4, 6)), np.zeros(0, dtype=np.int64)]
    for ids in cases:
        up = rng.normal(size=(*ids.shape, 5))
        results = []
        for side in (learner, reference):
            emb.weight.grad = None
            with side:
                y = emb(ids)
            (y * Tensor(up)).sum().backward()
            results.append((y.data.copy(), None if emb.weight.grad is None else emb.weight.grad.copy()))
        out += compare("Embedding.forward", f"lookup of ids {ids.tolist()}", results[0][0], results[1][0])
        if ids.size:
            out += compare("Embedding.forward", f"gradient for ids {ids.tolist()}", results[0][1], results[1][1])
    for bad in (np.array([11]), np.array([-1]), np.array([[0, 12]])):
        with learner:
            try:
                emb(bad)
                out.append(f"Embedding.forward: ids {bad.tolist()} lie outside 0..10: expected IndexError, got none")
            except IndexError:
                pass
    with learner:
        try:
            emb(np.array([1.0, 2.0]))
            out.append("Embedding.forward: float ids must raise TypeError, got none")
        except TypeError:
            pass
    return out


def cbow(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for length in (0, 3, 4, 5, 6, 9, 40):
        tokens = rng.integers(0, 20, length)
        for window in (1, 2, 3):
            out += compare("make_cbow_pairs", f"{length} tokens, window {window}",
                           learner.make_cbow_pairs(tokens, window), reference.make_cbow_pairs(tokens, window))
    ctx = rng.integers(0, 13, (7, 4))
    for tied in (False, True):
        model = CBOW(13, 6, rng=np.random.default_rng(int(rng.integers(1 << 30))), tied=tied)
        model.b_out.data[...] = rng.normal(size=13).astype(np.float32)
        with learner:
            got = model(ctx).data
        with reference:
            want = model(ctx).data
        out += compare("CBOW.forward", f"logits, tied={tied}", got, want, rtol=1e-5, atol=1e-7)
    return out


def geometry(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    table = rng.normal(size=(30, 8))
    table[5] = 3.0 * table[4]  # same direction, different length: cosine and Euclidean disagree
    table[7] = table[6]  # an exact tie
    for q in (4, 6, 0):
        for metric in ("cosine", "euclidean"):
            got = learner.nearest(table, table[q], 6, metric, {q})
            want = reference.nearest(table, table[q], 6, metric, {q})
            out += compare("nearest", f"top-6 {metric} neighbours of row {q}", got, want)
        got = learner.nearest(table, table[q], 4, "cosine", None, np.arange(10, 25))
        want = reference.nearest(table, table[q], 4, "cosine", None, np.arange(10, 25))
        out += compare("nearest", f"top-4 cosine among candidate rows 10..24 for row {q}", got, want)
    for shape in ((20, 5), (6, 3), (50, 2)):
        x = rng.normal(size=shape) @ np.diag(np.linspace(3.0, 0.5, shape[1])) + 4.0
        out += compare("pca_2d", f"points of shape {shape}", learner.pca_2d(x), reference.pca_2d(x))
    return out
