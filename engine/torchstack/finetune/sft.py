"""Supervised fine-tuning on (prompt, response) pairs: the loss counts only the response tokens.

Phases 28 (tutor), 29 (reader), 30 (JSON) and 32 (tool calls) all teach the same base model a
new output format. Each example becomes `<bos> prompt response <eos>`; the targets of the
prompt positions and of the padding are IGNORE (-100), so the adapter learns to *answer*, not
to reproduce the question. Rows longer than the model's context are refused, never cut (a cut
response would teach a truncated answer).

    rows = encode_pairs(pairs, tok.encode, bos=..., eos=..., context_len=cfg.context_len)
    losses = train_adapter(model, rows, pad=..., steps=300, lr=3e-3, batch=32, seed=0)
    scores = response_logprobs(model, rows, pad=...)      # sum log p(response | prompt), per row
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IGNORE = -100


@dataclass(frozen=True)
class Row:
    ids: tuple[int, ...]  # <bos> prompt response <eos>
    n_prompt: int  # tokens before the first response token (the <bos> included)


def encode_pairs(pairs: Sequence[tuple[str, str]], encode: Callable[[str], list[int]], *, bos: int, eos: int,
                 context_len: int) -> list[Row]:
    rows = []
    for prompt, response in pairs:
        p, r = [bos, *encode(prompt)], [*encode(response), eos]
        if len(p) + len(r) - 1 > context_len:  # inputs drop the last token
            raise ValueError(f"example of {len(p) + len(r)} tokens exceeds context {context_len}: {prompt!r}")
        rows.append(Row(tuple(p + r), len(p)))
    return rows


def batch_tensors(rows: Sequence[Row], pad: int, device: str | torch.device = "cpu") -> tuple[Tensor, Tensor]:
    """x = ids[:-1], y = ids[1:] with every target before the response (and padding) set to IGNORE."""
    n = max(len(r.ids) for r in rows) - 1
    x = torch.full((len(rows), n), pad, dtype=torch.long)
    y = torch.full((len(rows), n), IGNORE, dtype=torch.long)
    for i, r in enumerate(rows):
        ids = torch.tensor(r.ids)
        x[i, : len(ids) - 1] = ids[:-1]
        y[i, r.n_prompt - 1: len(ids) - 1] = ids[r.n_prompt:]
    return x.to(device), y.to(device)


def sft_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    logits = model(x).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)


def train_adapter(model: nn.Module, rows: Sequence[Row], *, pad: int, steps: int, lr: float, batch: int, seed: int,
                  params: list[nn.Parameter] | None = None, weight_decay: float = 0.0,
                  on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """AdamW with cosine decay on seeded random batches of rows; trains `params` (default: requires_grad)."""
    params = params if params is not None else [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: no parameter requires grad")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    losses = fit_rows(model, opt, rows, pad=pad, steps=steps, batch=batch, gen=gen,
                      lr_at=lambda step: lr * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))),
                      device=next(model.parameters()).device, on_step=on_step)
    model.eval()
    return losses


def fit_rows(model: nn.Module, opt: torch.optim.Optimizer, rows: Sequence[Row], *, pad: int, steps: int, batch: int,
             gen: torch.Generator, lr_at: Callable[[int], float] | None = None, device: str | torch.device = "cpu",
             set_to_none: bool = True, on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """The SFT loop every adapter uses: `steps` seeded random batches of rows, one `opt` step each, the lr
    set from `lr_at(step)` when given (else left as the optimizer has it). `set_to_none=False` keeps the
    gradient buffers between steps, for a memory probe that counts them. Leaves the model in train mode."""
    losses: list[float] = []
    model.train()
    for step in range(steps):
        if lr_at is not None:
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
        idx = torch.randint(len(rows), (batch,), generator=gen).tolist()
        x, y = batch_tensors([rows[i] for i in idx], pad, device)
        loss = sft_loss(model, x, y)
        opt.zero_grad(set_to_none=set_to_none)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses


@torch.no_grad()
def response_logprobs(model: nn.Module, rows: Sequence[Row], pad: int, batch: int = 128) -> Tensor:
    """sum over response tokens of log p(token | everything before it), one value per row (float64)."""
    out = []
    model.eval()
    for s in range(0, len(rows), batch):
        x, y = batch_tensors(rows[s: s + batch], pad, next(model.parameters()).device)
        logp = torch.log_softmax(model(x).double(), dim=-1)
        picked = logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        out.append((picked * (y != IGNORE)).sum(-1).cpu())
    return torch.cat(out)
