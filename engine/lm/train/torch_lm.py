"""Train and score the torch twin on text lines: batches, the token-mean loss, AdamW, line log-probs.

The phase-18 recipe in torch (the NumPy loop in engine.lm.train.loop teaches it from scratch):
each line is <bos> ids <eos>, batches are right-padded with <pad>, input = ids[:, :-1],
target = ids[:, 1:], padded targets are ignored, so the loss is the mean over real tokens.
Right padding needs no attention mask: a causal model's real positions never read the pads
after them. AdamW with decoupled decay on matrices only (not norms, biases), linear warmup then
cosine (engine.scratch.optim.schedules.warmup_cosine), global-norm clipping, optional label smoothing
(the reported loss is then the smoothed one; perplexities below are always plain NLL).

    seqs = encode_lines(tok, lines)                       # [[bos, ..., eos], ...]
    hist = train(model, seqs, steps=..., lr=..., batch=..., seed=...)
    nll = token_nll(model, seqs)                          # per line: NLL of each predicted token
    lp = line_logprob(model, tok, texts)                  # log P(<bos> text <eos>) per text
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.lm.text.bilingual import BOS, EOS, PAD
from engine.scratch.optim.schedules import warmup_cosine

IGNORE = -100


def encode_lines(tok: Any, lines: Sequence[str], bos: bool = True, eos: bool = True) -> list[list[int]]:
    return [([BOS] if bos else []) + tok.encode(s) + ([EOS] if eos else []) for s in lines]


def batch(seqs: Sequence[Sequence[int]], device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """(input, target), both (B, L-1); target is IGNORE past each sequence's end."""
    n = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), n), PAD, dtype=torch.long)
    y = torch.full((len(seqs), n), IGNORE, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, : len(s) - 1] = torch.tensor(s[:-1])
        y[i, : len(s) - 1] = torch.tensor(s[1:])
    return x.to(device), y.to(device)


def lm_loss(model: nn.Module, x: Tensor, y: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Token-mean cross-entropy over real targets; with label_smoothing = eps the target is
    (1 - eps)·onehot + eps/V (the neural form of the n-gram's add-alpha floor)."""
    logits = model(x).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE,
                           label_smoothing=label_smoothing)


def param_groups(model: nn.Module, weight_decay: float, params: list[nn.Parameter] | None = None) -> list[dict]:
    """Decay 2-D weights and embeddings; never biases or norm gains (phase 18's two groups)."""
    chosen = {id(p) for p in params} if params is not None else None
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad or (chosen is not None and id(p) not in chosen):
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(model: nn.Module, seqs: Sequence[Sequence[int]], *, steps: int, lr: float, batch_size: int, seed: int,
          warmup: int = 0, min_lr: float = 0.0, weight_decay: float = 0.1, clip: float | None = 1.0,
          betas: tuple[float, float] = (0.9, 0.95), params: list[nn.Parameter] | None = None,
          label_smoothing: float = 0.0,
          on_step: Callable[[int, dict[str, float]], None] | None = None) -> list[dict[str, float]]:
    """AdamW on random batches of `seqs` (drawn with torch.Generator(seed)); returns per-step {loss, lr, grad_norm}."""
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(param_groups(model, weight_decay, params), lr=lr, betas=betas)
    schedule = warmup_cosine(lr, warmup, steps, min_lr)
    trainable = [p for g in opt.param_groups for p in g["params"]]
    gen = torch.Generator().manual_seed(seed)
    hist: list[dict[str, float]] = []
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = schedule(step)
        idx = torch.randint(len(seqs), (batch_size,), generator=gen).tolist()
        x, y = batch([seqs[i] for i in idx], device)
        loss = lm_loss(model, x, y, label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(trainable, clip if clip is not None else math.inf)
        opt.step()
        row = {"loss": float(loss.detach()), "lr": schedule(step), "grad_norm": float(norm)}
        hist.append(row)
        if on_step is not None:
            on_step(step, row)
    model.eval()
    return hist


@torch.no_grad()
def token_nll(model: nn.Module, seqs: Sequence[Sequence[int]], batch_size: int = 256) -> list[Tensor]:
    """For each sequence, the NLL (nats) of every token after the first: len(seq) - 1 values."""
    device = next(model.parameters()).device
    model.eval()
    out: list[Tensor] = []
    for i in range(0, len(seqs), batch_size):
        chunk = seqs[i: i + batch_size]
        x, y = batch(chunk, device)
        logp = torch.log_softmax(model(x).double(), dim=-1)
        nll = -logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        out += [nll[j, : len(s) - 1].cpu() for j, s in enumerate(chunk)]
    return out


def perplexity(model: nn.Module, seqs: Sequence[Sequence[int]]) -> float:
    """exp(token-mean NLL) over every predicted token."""
    nll = torch.cat(token_nll(model, seqs))
    return math.exp(float(nll.mean()))


def line_logprob(model: nn.Module, tok: Any, texts: Sequence[str]) -> list[float]:
    """log P(<bos> text <eos>) of each text, each tokenized as a whole line (as in training)."""
    return [-float(n.sum()) for n in token_nll(model, encode_lines(tok, texts))]


def token_byte_spans(tok: Any, ids: Sequence[int]) -> list[tuple[int, int]]:
    """Byte span of each id in the decoded text (specials take no bytes)."""
    spans, at = [], 0
    for i in ids:
        n = 0 if i < tok.n_special else len(tok.id_to_bytes[i])
        spans.append((at, at + n))
        at += n
    return spans
