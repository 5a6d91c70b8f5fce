"""bk-lm's training loop and its measurements: next-token windows, validation NLL, the future leak.

Every compared model runs `fit` on the same window starts in the same order, with the same optimiser
(AdamW, weight decay 0.01), learning rate, clipping and step count, so their curves differ only by the
model. A step whose gradients are not finite is skipped (counted, no update, no callback): the seed's
hybrid gradient can produce them, and one bad step must not poison the optimiser state.
The lab keeps the config, the model choice and the logging (through `after`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.research.bk.corpus import Corpus, TextCorpus
from engine.research.bk.model import non_finite_grads


def windows(ids: np.ndarray, n_seq: int, starts: np.ndarray) -> tuple[Tensor, Tensor]:
    """Inputs ids[s : s+n_seq] and targets shifted by one, one row per start."""
    x = np.stack([ids[s : s + n_seq] for s in starts])
    y = np.stack([ids[s + 1 : s + n_seq + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def val_loss(model: nn.Module, xs: Tensor, ys: Tensor, skip: int) -> float:
    """Mean NLL over positions >= skip (the first tokens of a window lack context)."""
    model.eval()
    logits = model(xs)
    model.train()
    return float(F.cross_entropy(logits[:, skip:].reshape(-1, logits.shape[-1]), ys[:, skip:].reshape(-1)))


@torch.no_grad()
def future_leak(model: nn.Module, x: Tensor, t: int) -> float:
    """Largest change of the logits before position t when the token at t changes (0 for a causal model)."""
    model.eval()
    bumped = x.clone()
    bumped[:, t] = (bumped[:, t] + 1) % int(x.max() + 1)
    leak = float((model(bumped)[:, :t] - model(x)[:, :t]).abs().max())
    model.train()
    return leak


def unigram_ppl(corpus: Corpus | TextCorpus) -> float:
    """Validation perplexity of add-one unigram counts from the training split (the no-context baseline)."""
    counts = np.bincount(corpus.train, minlength=corpus.vocab_size) + 1.0
    p = counts / counts.sum()
    return float(math.exp(-np.log(p[corpus.val]).mean()))


class Eval(NamedTuple):
    """What an evaluation step reports: the batch's training loss, the validation NLL, throughput so far."""

    train_loss: float
    val_loss: float
    tokens_per_s: float


def fit(model: nn.Module, train_ids: np.ndarray, starts: np.ndarray, n_seq: int, device: str, lr: float,
        clip: float, every: int, evaluate: Callable[[nn.Module], float],
        after: Callable[[int, Eval | None], None]) -> int:
    """len(starts) steps of AdamW on the windows at starts[step]; every `every` steps and at the last,
    `evaluate(model)` is the validation NLL. `after(step, eval or None)` follows each update.
    Returns the number of skipped (non-finite gradient) steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps, batch = starts.shape
    t0, bad = time.perf_counter(), 0
    for step in range(steps):
        x, y = (t.to(device) for t in windows(train_ids, n_seq, starts[step]))
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if non_finite_grads(model):
            bad += 1
            continue
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        ev = None
        if (step + 1) % every == 0 or step == steps - 1:
            val = evaluate(model)
            ev = Eval(loss.item(), val, (step + 1) * batch * n_seq / (time.perf_counter() - t0))
        after(step, ev)
    return bad
