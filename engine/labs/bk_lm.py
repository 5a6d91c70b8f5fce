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
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.core.run import Recorder
from engine.lm.models.attention import TransformerLM
from engine.research.bk import lm_train as LT
from engine.research.bk.corpus import Corpus, TextCorpus
from engine.research.bk.model import BKConfig, ResNetBK, count_params

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


def _corpus(cfg: dict[str, Any], n_seq: int) -> Corpus | TextCorpus:
    """The text file of `corpus_path` (tokenised by `tokenizer`) or, without one, the generated verb text."""
    if str(cfg["corpus_path"]):
        return TextCorpus(str(cfg["corpus_path"]), str(cfg["tokenizer"]), int(cfg["bpe_vocab_size"]),
                          float(cfg["val_fraction"]), min_tokens=n_seq + 2)
    return Corpus(int(cfg["train_sentences"]), int(cfg["val_sentences"]), int(cfg["seed"]))


def train(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Trains each model of `models` (engine.research.bk.lm_train.fit) on the same windows; logs the curves."""
    seed = int(cfg["seed"])
    n_seq, batch, steps = int(cfg["n_seq"]), int(cfg["batch"]), int(cfg["steps"])
    corpus = _corpus(cfg, n_seq)
    skip = int(cfg["eval_skip"])
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(corpus.train) - n_seq - 1, (steps, batch))
    val_starts = np.arange(0, len(corpus.val) - n_seq - 1, n_seq)[: int(cfg["val_windows"])]
    device = str(cfg["device"])  # validated by the CLI: cuda only when usable
    xv, yv = (t.to(device) for t in LT.windows(corpus.val, n_seq, val_starts))
    models = [str(m) for m in cfg["models"]]
    out: dict[str, Any] = {"device": device, "vocab_size": corpus.vocab_size, "floor_ppl": corpus.floor_ppl,
                           "unigram_ppl": LT.unigram_ppl(corpus),
                           "corpus": corpus.path if isinstance(corpus, TextCorpus) else "generated verb text",
                           "tokenizer": corpus.kind if isinstance(corpus, TextCorpus) else "word"}
    for mi, name in enumerate(models):
        torch.manual_seed(seed)
        model = build_model(name, cfg, corpus.vocab_size, n_seq).to(device)

        def after(step: int, ev: LT.Eval | None, name: str = name, mi: int = mi) -> None:
            if ev is not None:
                rec.log(step + 1, model=name, train_loss=ev.train_loss, val_loss=ev.val_loss,
                        val_ppl=math.exp(ev.val_loss), tokens_per_s=ev.tokens_per_s)
            rec.progress(mi * steps + step + 1, len(models) * steps)

        bad = LT.fit(model, corpus.train, starts, n_seq, device, float(cfg["lr"]), float(cfg["grad_clip"]),
                     int(cfg["eval_every"]), lambda m: LT.val_loss(m, xv, yv, skip), after)
        val = LT.val_loss(model, xv, yv, skip)
        out[f"{name}_ppl"] = math.exp(val)
        out[f"{name}_ppl_over_floor"] = math.exp(val) / corpus.floor_ppl
        out[f"{name}_ppl_over_uniform"] = math.exp(val) / corpus.vocab_size
        out[f"{name}_params"] = count_params(model)
        out[f"{name}_future_leak"] = LT.future_leak(model, xv[:4], n_seq // 2)
        out[f"{name}_skipped_steps"] = bad
    if "resnet_bk_ppl" in out and "transformer_ppl" in out:
        out["bk_over_transformer_ppl"] = out["resnet_bk_ppl"] / out["transformer_ppl"]
    return out
