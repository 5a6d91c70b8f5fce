"""The head of the course's spine: the phase-11 tokenizer and the phase-18 base model, as cached stages.

    tok, ck = registry.load("tokenizer", quick)   # byte-level BPE (engine.lm.text.bpe) trained on the whole
                                                  # bilingual corpus in every format, <pad>/<bos>/<eos> = 0/1/2
    model, ck = registry.load("phase-18", quick)  # the torch twin (MiniGPTConfig below) trained on the
                                                  # pair lines of the 16 training verbs, both directions

Quick and full builds share the tokenizer recipe and the model shape; full trains longer. Every
default is in QUICK / FULL here because these are cache stages shared by many phases, not one
lab's config: a lab that wants another recipe trains its own model (phase 18's labs do).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.core.threads import torch_threads
from engine.lm.models import registry
from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.models.gpt_torch import GPT
from engine.lm.models.twin import load_torch, save_torch
from engine.lm.text import bilingual as B
from engine.lm.text.bpe import BPETokenizer
from engine.lm.train import torch_lm

TOKENIZER: dict[str, Any] = {"vocab_size": 512, "specials": list(B.SPECIALS), "corpus_seed": B.CORPUS_SEED,
                             "formats": list(B.FORMATS)}
MODEL: dict[str, Any] = {"d_model": 64, "n_heads": 4, "n_layers": 2, "d_ff": 256, "context_len": 64}
# label_smoothing 0.1: without it the held-out-verb perplexity rises while training goes on (the
# model drives the logits of tokens only the held-out lemmas use towards -inf; quick 400 steps:
# 165 vs the bigram's 62), with it the model keeps a floor on them as add-alpha does for the
# n-gram (quick 300 steps: 45.3). Quick is 300 steps so the chain builds in under 2 minutes.
TRAIN_FULL: dict[str, Any] = {"steps": 3000, "lr": 3e-3, "min_lr": 3e-4, "warmup": 100, "batch_size": 32,
                              "weight_decay": 0.1, "clip": 1.0, "seed": 42, "threads": 1, "label_smoothing": 0.1,
                              "formats": ["pair", "pair_en_es"]}
TRAIN_QUICK: dict[str, Any] = {**TRAIN_FULL, "steps": 300, "warmup": 30}


def model_config(vocab_size: int) -> MiniGPTConfig:
    return MiniGPTConfig(vocab_size=vocab_size, **MODEL)


# ---------------------------------------------------------------------- tokenizer stage
def _tok_config(quick: bool) -> dict[str, Any]:
    return dict(TOKENIZER)


def _tok_data(quick: bool) -> str:
    return "\n".join(B.tokenizer_texts(TOKENIZER["corpus_seed"]))


def _tok_build(cfg: dict[str, Any], out: Path) -> None:
    texts = B.lines("all", cfg["formats"], label=None, seed=cfg["corpus_seed"])
    BPETokenizer.train(texts, cfg["vocab_size"], cfg["specials"]).save(out)


registry.register(registry.Spec("tokenizer", "tokenizer", _tok_config, _tok_data, _tok_build, BPETokenizer.load,
                                code=("engine.lm.text.bpe", "engine.lm.text.bilingual", "engine.lm.text.corpus", __name__)))


def tokenizer(quick: bool = False) -> BPETokenizer:
    tok: BPETokenizer = registry.load("tokenizer", quick)[0]
    return tok


# ---------------------------------------------------------------------- phase-18 base model stage
def _model_config(quick: bool) -> dict[str, Any]:
    return {"mode": "quick" if quick else "full", "model": dict(MODEL), "train": dict(TRAIN_QUICK if quick else TRAIN_FULL)}


def _model_data(quick: bool) -> str:
    return "\n".join(B.lines("train", (TRAIN_QUICK if quick else TRAIN_FULL)["formats"]))


def train_base(cfg: dict[str, Any], tok: BPETokenizer, on_step: Any = None) -> tuple[GPT, list[dict[str, float]]]:
    """The phase-18 base model from scratch: seeded init, AdamW over the training pair lines."""
    t = cfg["train"]
    seqs = torch_lm.encode_lines(tok, B.lines("train", t["formats"]))
    with torch_threads(int(t["threads"])):
        model = GPT(MiniGPTConfig(vocab_size=tok.vocab_size, **cfg["model"]), seed=int(t["seed"]))
        hist = torch_lm.train(model, seqs, steps=int(t["steps"]), lr=float(t["lr"]), batch_size=int(t["batch_size"]),
                              seed=int(t["seed"]), warmup=int(t["warmup"]), min_lr=float(t["min_lr"]),
                              weight_decay=float(t["weight_decay"]), clip=float(t["clip"]),
                              label_smoothing=float(t.get("label_smoothing", 0.0)), on_step=on_step)
    return model, hist


def _model_build(cfg: dict[str, Any], out: Path) -> None:
    tok, tok_ck = registry.load("tokenizer", cfg["mode"] == "quick")
    model, hist = train_base(cfg, tok)
    save_torch(model, out / "model.safetensors", {"tokenizer_key": tok_ck.key})
    (out / "history.json").write_text(json.dumps({"loss": [round(h["loss"], 5) for h in hist]}) + "\n")


def _model_load(d: Path) -> GPT:
    model = load_torch(d / "model.safetensors").eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


registry.register(registry.Spec("phase-18", "model", _model_config, _model_data, _model_build, _model_load,
                                code=("engine.lm.models.gpt", "engine.lm.models.gpt_torch", "engine.lm.models.twin",
                                      "engine.lm.train.torch_lm", "engine.scratch.optim.schedules", __name__),
                                parents=("tokenizer",)))


def base_model(quick: bool = False) -> tuple[GPT, BPETokenizer, registry.Checkpoint]:
    """The phase-18 model (frozen, eval mode), its tokenizer and its checkpoint record."""
    model, ck = registry.load("phase-18", quick)
    return model, tokenizer(quick), ck


def fresh_copy(model: GPT) -> GPT:
    """A trainable copy (the cached model is shared within a process and frozen)."""
    new = GPT(model.cfg)
    new.load_state_dict(model.state_dict())
    return new.train().requires_grad_(True)

