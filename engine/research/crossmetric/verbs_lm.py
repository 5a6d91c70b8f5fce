"""Character-level language modelling of the verb corpus (section A13), for the tiny transformer.

Each of the corpus's distinct phrases ("he has worked", "to go", ...) becomes "^phrase$";
the model predicts every next character. Padding targets are -1 and count for nothing.
Predicting "has" after "he h", or "s" after "he work", needs attention to earlier
characters, so the heads have real jobs to be ablated from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.lm.text.verbs import grid
from engine.research.crossmetric.fit import full_batch
from engine.research.crossmetric.flat import call
from engine.research.crossmetric.models import TinyConfig, TinyTransformer

PAD, BOS, EOS = ".", "^", "$"


def corpus() -> tuple[Tensor, Tensor, list[str]]:
    """(inputs (n, T), targets (n, T) with -1 padding, vocabulary) for every distinct phrase."""
    phrases = sorted({f.phrase for f in grid()})
    vocab = [PAD, BOS, EOS] + sorted({c for p in phrases for c in p})
    code = {c: i for i, c in enumerate(vocab)}
    width = max(len(p) for p in phrases) + 1
    xs = torch.zeros(len(phrases), width, dtype=torch.long)
    ys = torch.full((len(phrases), width), -1, dtype=torch.long)
    for i, p in enumerate(phrases):
        ids = [code[c] for c in BOS + p + EOS]
        xs[i, : len(ids) - 1] = torch.tensor(ids[:-1])
        ys[i, : len(ids) - 1] = torch.tensor(ids[1:])
    return xs, ys, vocab


def mean_loss(logits: Tensor, targets: Tensor) -> Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


def seq_logp(model: TinyTransformer):  # noqa: ANN201 - returns a LogProb
    """log p(targets | inputs) of ONE sequence, summed over its real positions (a Fisher LogProb)."""

    def logp(params: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        logits = call(model, params, x.unsqueeze(0))[0].log_softmax(-1)
        picked = logits.gather(-1, y.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        return (picked * (y >= 0)).sum()

    return logp


def sample_targets(model: TinyTransformer, xs: Tensor, ys: Tensor, gen: torch.Generator) -> Tensor:
    """Labels drawn from the model at every real position (teacher-forced inputs), padding kept."""
    with torch.no_grad():
        probs = model(xs).softmax(-1)
    flat = probs.reshape(-1, probs.shape[-1]).to(gen.device)
    draws = torch.multinomial(flat, 1, generator=gen).view(ys.shape).to(ys.device)
    return torch.where(ys >= 0, draws, ys)


def train(cfg: TinyConfig, xs: Tensor, ys: Tensor, steps: int, lr: float, seed: int,
          log: list[float] | None = None) -> TinyTransformer:
    """Full-batch AdamW for `steps` steps from a seeded initialisation; losses go to `log`."""
    torch.manual_seed(seed)
    model = TinyTransformer(cfg).to(xs.device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    full_batch(opt, lambda: mean_loss(model(xs), ys), steps, log)
    return model.eval()


def unigram_loss(ys: Tensor) -> float:
    """Cross-entropy of the best context-free guess (target character frequencies): a floor to beat."""
    t = ys[ys >= 0]
    p = torch.bincount(t).double() / t.numel()
    p = p[p > 0]
    return float(-(p * p.log()).sum())
