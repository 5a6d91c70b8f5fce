"""CBOW training on the scratch stack (phase 13): SGD with momentum over shuffled (context, centre) batches.

One generator, `default_rng(seed)`, draws the model's initial table and then each epoch's order,
so the same seed gives the same run. The first forward pass (epoch 0, no step yet) is checked
against the tokenizer's vocabulary (`check_logits`) unless the caller silences it (the break).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.core.threads import blas_threads
from engine.lm.models.embeddings import CBOW, check_logits, make_cbow_pairs
from engine.scratch.autograd.tensor import cross_entropy, no_grad
from engine.scratch.optim import SGD


def _quiet(*_: Any, **__: Any) -> None:
    return None


def fit_cbow(stream: np.ndarray, table_rows: int, *, dim: int, window: int, lr: float, momentum: float,
             batch_size: int, epochs: int, seed: int, tied: bool = False, check_vocab: int | None = None,
             log: Callable[..., None] = _quiet,
             progress: Callable[[int, int], None] = _quiet) -> tuple[CBOW, list[float]]:
    """Train a CBOW with `table_rows` rows on `stream`; returns the model and the mean loss per epoch
    (index 0: the loss before any step). `check_vocab`: the tokenizer's size, checked on the first pass."""
    contexts, centres = make_cbow_pairs(stream, window)
    rng = np.random.default_rng(seed)
    model = CBOW(table_rows, dim, rng=rng, tied=tied)
    opt = SGD(model.parameters(), lr=lr, momentum=momentum)
    with no_grad():
        first = model(contexts)
        if check_vocab is not None:
            check_logits(first, check_vocab)
        losses = [float(cross_entropy(first, centres).data)]
    log(0, stage="train", epoch=0, loss=losses[0])
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(centres))
        total = 0.0
        with blas_threads(1):  # tiny matmuls: extra BLAS threads only thrash on a busy 2-core box
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                loss = cross_entropy(model(contexts[idx]), centres[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.data) * len(idx)
        losses.append(total / len(order))
        log(epoch, stage="train", epoch=epoch, loss=losses[-1])
        progress(epoch, epochs)
    return model, losses
