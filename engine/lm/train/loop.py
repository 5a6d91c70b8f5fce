"""The Mini-GPT training loop (phase 18): token-mean loss over a padding mask, global clipping,
warmup-cosine AdamW, periodic validation. No early stopping.

API (phases 19-20 reuse it):
    state = TrainState.create(model_cfg, opt_cfg, train_seqs, batch_size, data_seed, rng_seed, init_seed)
    train(state, total_steps=..., val_seqs=..., val_every=50, log=rec_log_fn)  -> history dict
    masked_loss(model, inp, tgt, loss_mask, attn_pad_mask) -> Tensor (token mean)
    evaluate(model, seqs, batch_size) -> (mean NLL per token, perplexity)
    train_step(state) -> dict(loss, lr, g_norm)    one step, for loops that instrument themselves
TrainState holds the five things a checkpoint must capture: model, optimiser, scheduler step,
data iterator and the training RNG (unused by the maths here: no dropout; kept so resumption is
exact once something draws from it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.train.data import BatchIterator, make_batch
from engine.lm.train.optim import GroupedAdamW, clip_grad_norm_, lr_at
from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad

DEFAULT_OPT: dict[str, Any] = {"lr_max": 3e-4, "lr_min": 3e-5, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
                               "weight_decay": 0.1, "clip": 1.0, "warmup_steps": 100, "total_steps": 2000}


def masked_loss(model: MiniGPT, inp: np.ndarray, tgt: np.ndarray, loss_mask: np.ndarray,
                attn_pad_mask: np.ndarray | None = None) -> Tensor:
    """Σ (per-token loss · mask) / Σ mask: every real target token weighs the same."""
    logits = model(inp, pad_mask=attn_pad_mask)
    v = logits.shape[-1]
    per_tok = cross_entropy(logits.reshape(-1, v), tgt.reshape(-1), reduction="none")
    m = loss_mask.reshape(-1).astype(per_tok.dtype)
    return (per_tok * m).sum() * (1.0 / float(m.sum()))


def evaluate(model: MiniGPT, seqs: Sequence[Sequence[int]], batch_size: int = 64) -> tuple[float, float]:
    """Token-mean NLL (nats) and perplexity over all of `seqs`."""
    total, count = 0.0, 0.0
    with no_grad():
        for i in range(0, len(seqs), batch_size):
            inp, tgt, lm, am = make_batch(seqs[i:i + batch_size])
            logits = model(inp, pad_mask=am).data.astype(np.float64)
            z = logits - logits.max(-1, keepdims=True)
            lse = np.log(np.exp(z).sum(-1))
            nll = lse - np.take_along_axis(z, tgt[..., None], -1)[..., 0]
            total += float((nll * lm).sum())
            count += float(lm.sum())
    mean = total / count
    return mean, math.exp(mean)


@dataclass
class TrainState:
    model: MiniGPT
    opt: GroupedAdamW
    data: BatchIterator
    rng: np.random.Generator
    opt_cfg: dict[str, Any]
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, model_cfg: MiniGPTConfig, opt_cfg: dict[str, Any], train_seqs: Sequence[Sequence[int]],
               batch_size: int = 8, data_seed: int = 7, rng_seed: int = 42, init_seed: int | None = None) -> TrainState:
        oc = {**DEFAULT_OPT, **opt_cfg}
        model = MiniGPT(model_cfg, rng=np.random.default_rng(rng_seed if init_seed is None else init_seed))
        opt = GroupedAdamW(model.named_parameters(), lr=oc["lr_max"], betas=(oc["beta1"], oc["beta2"]),
                           eps=oc["eps"], weight_decay=oc["weight_decay"])
        return cls(model, opt, BatchIterator(train_seqs, batch_size, data_seed), np.random.default_rng(rng_seed), oc)


def train_step(state: TrainState, aux: Callable[[], Tensor] | None = None) -> dict[str, float]:
    """Batch, forward, token-mean loss, backward, global norm + clip, schedule, AdamW step.

    `aux()` (optional) is added to the loss before backward, e.g. an MoE balancing loss x alpha;
    the returned `loss` is the language-model loss alone. The step's input ids stay in
    `state.extra["inputs"]` for loops that inspect the batch (which tokens were padding)."""
    oc = state.opt_cfg
    inp, tgt, lm, am = state.data.next_batch()
    state.extra["inputs"] = inp
    state.opt.zero_grad()
    loss = masked_loss(state.model, inp, tgt, lm, am)
    (loss if aux is None else loss + aux()).backward()
    g_norm = clip_grad_norm_(state.opt.params, oc.get("clip"))
    lr = lr_at(state.step, oc["lr_max"], oc["lr_min"], int(oc["warmup_steps"]), int(oc["total_steps"]))
    state.opt.set_lr(lr)
    state.opt.step()
    state.step += 1
    return {"loss": loss.item(), "lr": lr, "g_norm": g_norm}


def train(state: TrainState, total_steps: int, val_seqs: Sequence[Sequence[int]] | None = None,
          val_every: int = 50, log_every: int = 10, log: Callable[..., None] | None = None,
          on_step: Callable[[TrainState, dict[str, float]], None] | None = None) -> dict[str, list[float]]:
    """Run until state.step == total_steps; log train records every `log_every`, val every `val_every`."""
    hist: dict[str, list[float]] = {"step": [], "loss": [], "val_step": [], "val_loss": []}
    while state.step < total_steps:
        rec = train_step(state)
        step = state.step
        hist["step"].append(step)
        hist["loss"].append(rec["loss"])
        if on_step is not None:
            on_step(state, rec)
        if log is not None and (step % log_every == 0 or step == 1):
            log(step, **rec)
        if val_seqs is not None and (step % val_every == 0 or step == total_steps):
            vl, vp = evaluate(state.model, val_seqs)
            hist["val_step"].append(step)
            hist["val_loss"].append(vl)
            if log is not None:
                log(step, val_loss=vl, val_ppl=vp)
    return hist
