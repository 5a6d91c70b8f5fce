"""Phase 18, lab 05: the spine's base model - the checkpoint every later phase asks for by name.

The same recipe as this phase's NumPy labs (token-mean loss over <bos> line <eos>, AdamW with
decoupled decay on matrices, warmup then cosine, global-norm clipping), run on the torch twin over
the course's lab format "es:<spanish> / en:<english>" (both directions) of the 16 training verbs,
tokenized by the phase-11 BPE trained on the corpus. It is a model-cache stage
(engine.lm.train.spine, registry name "phase-18"): built once per hash of its data, code and config,
then loaded by phases 20-32. This lab builds it if needed, reads it back, and checks the course's
gate: validation perplexity below the best n-gram baseline on the same ids and split.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.models import registry
from engine.lm.text import bilingual as B
from engine.lm.train import spine, torch_lm
from engine.lm.train.ngram import best_baseline


def base_model(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    quick = bool(cfg["quick"])
    model, ck = registry.load("phase-18", quick, log=rec.note)
    tok, tok_ck = registry.load("tokenizer", quick)
    registry.record(rec, ck)
    registry.record(rec, tok_ck)
    hist = json.loads((ck.path / "history.json").read_text())["loss"]
    every = max(1, len(hist) // 100)
    for step in range(0, len(hist), every):
        rec.log(step, loss=hist[step], stage="train")
    train = torch_lm.encode_lines(tok, B.lines("train"))
    val = torch_lm.encode_lines(tok, B.lines("val"))
    with torch_threads(1), torch.no_grad():
        train_ppl, val_ppl = torch_lm.perplexity(model, train), torch_lm.perplexity(model, val)
    base = best_baseline(train, val, tok.vocab_size, orders=tuple(cfg["ngram_orders"]), alphas=tuple(cfg["ngram_alphas"]))
    train_cfg = spine.TRAIN_QUICK if quick else spine.TRAIN_FULL
    return {
        "checkpoint": ck.key, "tokenizer": tok_ck.key, "mode": ck.mode,
        "n_params": sum(p.numel() for p in model.parameters()), "vocab_size": tok.vocab_size,
        "steps": int(train_cfg["steps"]), "train_lines": len(train), "val_lines": len(val),
        "initial_loss": hist[0], "final_loss": hist[-1], "uniform_loss": float(torch.log(torch.tensor(float(tok.vocab_size)))),
        "train_ppl": train_ppl, "val_ppl": val_ppl, "ngram_baseline_val_ppl": base["ppl"], "ngram_n": int(base["n"]),
        "beats_baseline": val_ppl < base["ppl"], "ppl_improvement_pct": 100.0 * (1 - val_ppl / base["ppl"]),
    }
