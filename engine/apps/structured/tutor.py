"""The phase-30 JSON tutor: the course's model taught to answer in the conjugation schema, as a
named model-cache stage ("phase-30"), and its constrained / unconstrained evaluation.

Base: the phase-28 tutor with its adapter folded in (engine.torchstack.finetune.tutor.merged_tutor) where
that stage is registered, else the phase-18 base model. A new LoRA adapter (rank r on every
Linear, phase 28's engine.torchstack.finetune.lora) is trained with phase 28's prompt/response loop
(engine.torchstack.finetune.sft) on sentences from engine.apps.structured.tutor_data:

    prompt   "json: She wrote a long letter. =>"            (engine.lm.text.bilingual.json_prompt)
    response ' {"verb":"write","tense":"past_simple","person":"3sg","spanish":"escribió"}'

LoRA alone cannot teach tokens the base never read: the JSON punctuation and keys are tokens
whose embedding rows (the tied head) kept their random initial values, and a low-rank change
of the hidden state cannot give them a high logit. So the rows of exactly those tokens train
too (`new_token_rows`, what PEFT calls trainable token indices); every row the base did learn
stays frozen. Measured without them: the loss stalls near 4 nats and no field is right.

    model, vocab, ck = tutor_json(quick)                 # frozen, eval; MaskVocab; checkpoint
    rows = evaluate(model, vocab, items, constrained=True)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.apps.structured import regex as R
from engine.apps.structured import tutor_data as D
from engine.apps.structured.decode import TorchLM, generate
from engine.apps.structured.mask import RegexMask
from engine.apps.structured.schema import compile_schema, conjugation_schema, validate
from engine.apps.structured.vocab import MaskVocab
from engine.core.threads import torch_threads
from engine.lm.models import registry
from engine.lm.text import bilingual as B
from engine.lm.train import spine
from engine.torchstack.finetune.lora import (
    adapter_hash,
    load_adapter,
    lora_parameters,
    read_adapter,
    save_adapter,
    wrap_minigpt_with_lora,
)
from engine.torchstack.finetune.sft import encode_pairs, train_adapter
from engine.torchstack.finetune.token_rows import enable_rows, load_rows, new_token_ids, save_rows, seen_token_ids

NAME = "phase-30"
PARENT = "phase-28" if "phase-28" in registry.PROVIDERS else "phase-18"
FULL: dict[str, Any] = {"r": 8, "alpha": 16.0, "dropout": 0.0, "steps": 2000, "lr": 1e-2, "batch": 32, "seed": 42,
                        "test_fraction": 0.2, "salt": "phase-30", "with_spanish": True, "new_token_rows": True,
                        "threads": 1}
QUICK: dict[str, Any] = {**FULL, "steps": 600}
ADAPTER_FILE, ROWS_FILE = "adapter.safetensors", "token_rows.safetensors"
RESPONSE_PREFIX = " "  # the bilingual json format answers ' {...}'


# ---------------------------------------------------------------------- data
def pairs(items: Sequence[D.Labelled], with_spanish: bool = True) -> list[tuple[str, str]]:
    return [(B.json_prompt(s.sentence), RESPONSE_PREFIX + s.target(with_spanish)) for s in items]


def _config(quick: bool) -> dict[str, Any]:
    return {"mode": "quick" if quick else "full", "parent": PARENT, **(QUICK if quick else FULL)}


def _data(quick: bool) -> str:
    cfg = _config(quick)
    train, _ = D.split(float(cfg["test_fraction"]), str(cfg["salt"]))
    return "\n".join(p + r for p, r in pairs(train, bool(cfg["with_spanish"])))


# ---------------------------------------------------------------------- the stage
def _base(quick: bool) -> nn.Module:
    if PARENT == "phase-28":
        from engine.torchstack.finetune.tutor import merged_tutor

        return merged_tutor(quick)
    base, _, _ = spine.base_model(quick)
    return spine.fresh_copy(base)


def with_context(model: nn.Module, context_len: int) -> nn.Module:
    """The same model allowed a longer window (one config switch). Only RoPE positions extend: a
    learned or sinusoidal table has context_len rows, so those models are refused."""
    cfg = model.cfg  # type: ignore[union-attr]
    if context_len == cfg.context_len:
        return model
    if cfg.learned_pos or cfg.sinusoidal or not cfg.rope:
        raise ValueError(f"context_len {cfg.context_len} -> {context_len}: only a RoPE-only model can extend its window")
    model.cfg = dataclasses.replace(cfg, context_len=int(context_len))  # type: ignore[union-attr]
    return model


def tune_adapter(cfg: dict[str, Any], examples: Sequence[tuple[str, str]],
                 on_step: Any = None) -> tuple[nn.Module, list[float], list[int]]:
    """Train a LoRA adapter (and the embedding rows of tokens the parents never read) on
    (prompt, response) pairs; returns (wrapped model, per-step loss, ids of the rows trained).
    Pairs longer than the context are left out (never cut), counted by the caller."""
    quick = cfg["mode"] == "quick"
    tok = spine.tokenizer(quick)
    with torch_threads(int(cfg["threads"])):
        torch.manual_seed(int(cfg["seed"]))  # A's Kaiming init
        base = _base(quick)
        if cfg.get("context_len"):
            base = with_context(base, int(cfg["context_len"]))
        model = wrap_minigpt_with_lora(base, r=int(cfg["r"]), alpha=float(cfg["alpha"]),
                                       dropout=float(cfg["dropout"]))
        ctx = int(model.cfg.context_len)
        rows = encode_pairs(fitting(tok, examples, ctx), tok.encode, bos=B.BOS, eos=B.EOS, context_len=ctx)
        params = lora_parameters(model)
        new_ids: list[int] = []
        if cfg["new_token_rows"]:
            new_ids = new_token_ids((r.ids for r in rows), seen_token_ids(tok, str(cfg["parent"]), quick))
            params = [*params, enable_rows(model, new_ids)]
        losses = train_adapter(model, rows, pad=B.PAD, steps=int(cfg["steps"]), lr=float(cfg["lr"]),
                               batch=int(cfg["batch"]), seed=int(cfg["seed"]), params=params, on_step=on_step)
    return model, losses, new_ids


def fitting(tok: Any, examples: Sequence[tuple[str, str]], context_len: int) -> list[tuple[str, str]]:
    """The pairs whose <bos> prompt response <eos> fits the context."""
    return [(p, r) for p, r in examples if len(tok.encode(p)) + len(tok.encode(r)) + 1 <= context_len]


def save_tuned(model: nn.Module, new_ids: list[int], losses: list[float], out: Path, meta: dict[str, Any]) -> None:
    save_adapter(model, out / ADAPTER_FILE, {**meta, "new_token_rows": len(new_ids)})
    save_rows(model, new_ids, out / ROWS_FILE)
    (out / "history.json").write_text(json.dumps({"loss": [round(v, 5) for v in losses]}) + "\n")


def load_tuned(d: Path) -> nn.Module:
    """The parent model with a saved adapter and embedding rows applied (frozen, eval)."""
    base = _base("-quick-" in d.name)
    meta = read_adapter(d / ADAPTER_FILE)[1]
    if meta.get("context_len"):
        base = with_context(base, int(meta["context_len"]))  # type: ignore[arg-type]
    model = load_adapter(base, d / ADAPTER_FILE)
    load_rows(model, d / ROWS_FILE)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def _build(cfg: dict[str, Any], out: Path) -> None:
    train, _ = D.split(float(cfg["test_fraction"]), str(cfg["salt"]))
    model, losses, new_ids = tune_adapter(cfg, pairs(train, bool(cfg["with_spanish"])))
    save_tuned(model, new_ids, losses, out, {"parent": cfg["parent"]})


registry.register(registry.Spec(NAME, "adapter", _config, _data, _build, load_tuned,
                                code=("engine.torchstack.finetune.lora", "engine.torchstack.finetune.sft", "engine.apps.structured.tutor_data",
                                      "engine.lm.text.bilingual", __name__),
                                parents=(PARENT,)))


def tutor_json(quick: bool = False) -> tuple[nn.Module, MaskVocab, registry.Checkpoint]:
    model, ck = registry.load(NAME, quick)
    return model, MaskVocab(spine.tokenizer(quick), B.BOS, B.EOS), ck


def adapter_record(ck: registry.Checkpoint) -> dict[str, Any]:
    state, meta = read_adapter(ck.path / ADAPTER_FILE)
    return {"adapter_hash": adapter_hash(state), "parent": meta.get("parent"), "r": meta["r"], "alpha": meta["alpha"],
            "new_token_rows": meta.get("new_token_rows")}


# ---------------------------------------------------------------------- decoding and scoring
def response_mask(vocab: MaskVocab, schema: dict[str, Any] | None = None) -> RegexMask:
    """The response grammar: the format's leading space, then one minified document of the schema."""
    return RegexMask(vocab, R.seq(R.lit(RESPONSE_PREFIX), compile_schema(schema or conjugation_schema())))


def answer(model: nn.Module, vocab: MaskVocab, sentence: str, *, mask: RegexMask | None, seed: int = 0,
           temperature: float = 0.0, max_new_tokens: int = 40) -> tuple[str, dict[str, Any] | None, list[float]]:
    """(raw response, parsed document or None, per-step KL when masked)."""
    lm = TorchLM(model, int(model.cfg.context_len))
    g = generate(lm, vocab, vocab.encode(B.json_prompt(sentence)), np.random.default_rng(seed), mask=mask,
                 temperature=temperature, max_new_tokens=max_new_tokens)
    try:
        doc = json.loads(g.text)
    except json.JSONDecodeError:
        doc = None
    return g.text, doc, g.kl


def score(docs: Sequence[dict[str, Any] | None], items: Sequence[D.Labelled],
          schema: dict[str, Any] | None = None) -> dict[str, float]:
    """parse, schema-valid and content rates (verb, tense and person right; spanish apart)."""
    schema = schema or conjugation_schema()
    n = max(len(items), 1)
    valid = [d is not None and not validate(d, schema) for d in docs]
    return {"parse_rate": sum(d is not None for d in docs) / n, "schema_valid_rate": sum(valid) / n,
            "content_accuracy": sum(v and D.content_correct(d, it) for v, d, it in zip(valid, docs, items, strict=True)) / n,
            "spanish_accuracy": sum(v and d.get("spanish") == it.spanish for v, d, it in zip(valid, docs, items, strict=True)) / n}
