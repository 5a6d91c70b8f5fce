"""Experiment bk-lm: train ResNet-BK and a same-width Transformer on generated verb text.

Both models see the same batches in the same order, with the same optimiser, learning
rate and step count; validation perplexity is logged for both so the curves can be drawn
side by side. The corpus has a known perplexity floor (engine.research.bk.corpus), so a
model that goes below it is provably reading future tokens.

Models (config `models`): resnet_bk (causal features, exact gradient, top-1 MoE),
transformer, and optional variants resnet_bk_hybrid (the seed's hybrid gradient) and
resnet_bk_noncausal (the seed's full G_ii, which sees the future).
Faults: `noncausal` and `hybrid_gradient` switch the main resnet_bk model to those variants.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.core.run import Recorder
from engine.lm.models.attention import TransformerLM
from engine.research.bk.corpus import Corpus, TextCorpus
from engine.research.bk.model import BKConfig, ResNetBK, count_params, non_finite_grads

VARIANTS = {
    "resnet_bk": {},
    "resnet_bk_hybrid": {"grad_mode": "hybrid"},
    "resnet_bk_noncausal": {"causal": False},
}


def build_model(name: str, cfg: dict[str, Any], vocab: int, n_seq: int) -> nn.Module:
    """One of the compared models from the experiment's config (bk-lm and bk-longrange share it)."""
    d, layers = int(cfg["d_model"]), int(cfg["n_layers"])
    if name == "transformer":
        return TransformerLM(vocab, n_seq, d, layers, int(cfg["heads"]), mlp_ratio=int(cfg["mlp_ratio"]))
    over = dict(VARIANTS[name])
    if name == "resnet_bk" and cfg.get("fault") == "noncausal":
        over["causal"] = False
    if name == "resnet_bk" and cfg.get("fault") == "hybrid_gradient":
        over["grad_mode"] = "hybrid"
    bk = BKConfig(vocab_size=vocab, n_seq=n_seq, d_model=d, n_layers=layers, ffn=str(cfg["ffn"]),
                  num_experts=int(cfg["num_experts"]), channels=int(cfg["channels"]),
                  v_max=float(cfg["v_max"]), feature_clamp=float(cfg["feature_clamp"]),
                  grad_blend=float(cfg["grad_blend"]), precision=str(cfg["precision"]),
                  z_im=float(cfg["z_im"]), **over)
    return ResNetBK(bk)


def _windows(ids: np.ndarray, n_seq: int, starts: np.ndarray) -> tuple[Tensor, Tensor]:
    x = np.stack([ids[s : s + n_seq] for s in starts])
    y = np.stack([ids[s + 1 : s + n_seq + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def _val_loss(model: nn.Module, xs: Tensor, ys: Tensor, skip: int) -> float:
    """Mean NLL over positions >= skip (the first tokens of a window lack context)."""
    model.eval()
    logits = model(xs)
    model.train()
    return float(F.cross_entropy(logits[:, skip:].reshape(-1, logits.shape[-1]), ys[:, skip:].reshape(-1)))


@torch.no_grad()
def _future_leak(model: nn.Module, x: Tensor, t: int) -> float:
    """Largest change of the logits before position t when the token at t changes."""
    model.eval()
    bumped = x.clone()
    bumped[:, t] = (bumped[:, t] + 1) % int(x.max() + 1)
    leak = float((model(bumped)[:, :t] - model(x)[:, :t]).abs().max())
    model.train()
    return leak


def train(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    seed = int(cfg["seed"])
    n_seq, batch, steps = int(cfg["n_seq"]), int(cfg["batch"]), int(cfg["steps"])
    corpus: Corpus | TextCorpus
    if str(cfg["corpus_path"]):
        corpus = TextCorpus(str(cfg["corpus_path"]), str(cfg["tokenizer"]), int(cfg["bpe_vocab_size"]),
                            float(cfg["val_fraction"]), min_tokens=n_seq + 2)
    else:
        corpus = Corpus(int(cfg["train_sentences"]), int(cfg["val_sentences"]), seed)
    every, skip = int(cfg["eval_every"]), int(cfg["eval_skip"])
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(corpus.train) - n_seq - 1, (steps, batch))
    val_starts = np.arange(0, len(corpus.val) - n_seq - 1, n_seq)[: int(cfg["val_windows"])]
    device = str(cfg["device"])  # validated by the CLI: cuda only when usable
    xv, yv = (t.to(device) for t in _windows(corpus.val, n_seq, val_starts))
    models = [str(m) for m in cfg["models"]]
    out: dict[str, Any] = {"device": device, "vocab_size": corpus.vocab_size, "floor_ppl": corpus.floor_ppl,
                           "unigram_ppl": _unigram_ppl(corpus),
                           "corpus": corpus.path if isinstance(corpus, TextCorpus) else "generated verb text",
                           "tokenizer": corpus.kind if isinstance(corpus, TextCorpus) else "word"}
    for mi, name in enumerate(models):
        torch.manual_seed(seed)
        model = build_model(name, cfg, corpus.vocab_size, n_seq).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=float(cfg["lr"]), weight_decay=0.01)
        clip = float(cfg["grad_clip"])
        t0, bad = time.perf_counter(), 0
        for step in range(steps):
            x, y = (t.to(device) for t in _windows(corpus.train, n_seq, starts[step]))
            loss = F.cross_entropy(model(x).reshape(-1, corpus.vocab_size), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if non_finite_grads(model):
                bad += 1
                continue
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            if (step + 1) % every == 0 or step == steps - 1:
                val = _val_loss(model, xv, yv, skip)
                rec.log(step + 1, model=name, train_loss=loss.item(), val_loss=val, val_ppl=math.exp(val),
                        tokens_per_s=(step + 1) * batch * n_seq / (time.perf_counter() - t0))
            rec.progress(mi * steps + step + 1, len(models) * steps)
        val = _val_loss(model, xv, yv, skip)
        out[f"{name}_ppl"] = math.exp(val)
        out[f"{name}_ppl_over_floor"] = math.exp(val) / corpus.floor_ppl
        out[f"{name}_ppl_over_uniform"] = math.exp(val) / corpus.vocab_size
        out[f"{name}_params"] = count_params(model)
        out[f"{name}_future_leak"] = _future_leak(model, xv[:4], n_seq // 2)
        out[f"{name}_skipped_steps"] = bad
    if "resnet_bk_ppl" in out and "transformer_ppl" in out:
        out["bk_over_transformer_ppl"] = out["resnet_bk_ppl"] / out["transformer_ppl"]
    return out


def _unigram_ppl(corpus: Corpus | TextCorpus) -> float:
    counts = np.bincount(corpus.train, minlength=corpus.vocab_size) + 1.0
    p = counts / counts.sum()
    return float(math.exp(-np.log(p[corpus.val]).mean()))
