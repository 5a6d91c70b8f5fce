"""The phase-29 reader model: the phase-28 tutor, LoRA-tuned to answer from retrieved rules and cite one.

Stage "phase-29" in the model cache, built like phases 30 and 32
(engine.apps.structured.tutor.tune_adapter): a new adapter, plus the embedding rows of tokens the
parents never read, on the examples of engine.apps.rag.reader_data. Those examples are made from
the verb table with question templates of their own, over the rules that the pipeline's own
hybrid retriever returns for each question, so the model learns to pick the stating rule among
the ones retrieval really hands it. The 30 evaluation queries never enter training.

A reader prompt with three rule titles runs to about 110 tokens, past the base model's 64; the
spine model has RoPE positions only, so the stage widens the window to 128 (one config switch,
engine.apps.structured.tutor.with_context), as phase 32 does.

    reader, ck = tuned_reader(quick)            # a GenerativeReader over the frozen model
    reader.answer("What is the past participle of eat?", chunks)   # -> "eaten [en-past-...-050]"
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from engine.apps.rag import reader_data as RD
from engine.apps.rag.cli import build_pipeline
from engine.apps.rag.kb_grammar import build_kb
from engine.apps.rag.reader_gen import GenerativeReader
from engine.apps.structured import regex as R
from engine.apps.structured import tutor as TU
from engine.apps.structured.decode import TorchLM
from engine.apps.structured.decode import generate as generate_masked
from engine.apps.structured.mask import RegexMask
from engine.apps.structured.vocab import MaskVocab
from engine.lm.models import registry
from engine.lm.text import bilingual as B
from engine.lm.train import spine
from engine.torchstack.finetune.tutor import generate_ids

NAME = "phase-29"
FULL: dict[str, Any] = {**TU.FULL, "steps": 1200, "context_len": 128, "n_rules": 3, "answer_budget": 12,
                        "test_percent": 10, "salt": "phase-29"}
QUICK: dict[str, Any] = {**FULL, "steps": 900}
RULE_LINE = re.compile(r"^\[\d+\] ", re.M)


def fits_in(tok: Any, context_len: int, answer_budget: int) -> Any:
    """prompt -> whether <bos> prompt plus an answer of `answer_budget` tokens fits the window."""
    return lambda prompt: 1 + len(tok.encode(prompt)) + answer_budget <= context_len


def _held_out(e: RD.ReaderExample, salt: str, percent: int) -> bool:
    return int(hashlib.sha256(f"{salt}|{e.prompt}".encode()).hexdigest()[:8], 16) % 100 < percent


def examples(cfg: dict[str, Any]) -> tuple[list[RD.ReaderExample], list[RD.ReaderExample]]:
    """(train, test): the reader examples over the pipeline's hybrid retriever, split by a hash of the prompt."""
    tok = spine.tokenizer(cfg["mode"] == "quick")
    fits = fits_in(tok, int(cfg["context_len"]), int(cfg["answer_budget"]))
    every = RD.reader_examples(build_kb(), build_pipeline().retriever.search, int(cfg["n_rules"]), fits,
                               int(cfg["seed"]))
    test = [e for e in every if _held_out(e, str(cfg["salt"]), int(cfg["test_percent"]))]
    return [e for e in every if e not in test], test


def _config(quick: bool) -> dict[str, Any]:
    return {"mode": "quick" if quick else "full", "parent": TU.PARENT, **(QUICK if quick else FULL)}


def _data(quick: bool) -> str:
    train, _ = examples(_config(quick))
    return "\n".join(e.prompt + e.answer for e in train)


def _build(cfg: dict[str, Any], out: Path) -> None:
    train, _ = examples(cfg)
    model, losses, new_ids = TU.tune_adapter(cfg, [(e.prompt, e.answer) for e in train])
    TU.save_tuned(model, new_ids, losses, out, {"parent": cfg["parent"], "context_len": int(cfg["context_len"])})


registry.register(registry.Spec(NAME, "adapter", _config, _data, _build, TU.load_tuned,
                                code=("engine.torchstack.finetune.lora", "engine.torchstack.finetune.sft",
                                      "engine.apps.rag.reader_data", "engine.apps.rag.reader_gen",
                                      "engine.apps.rag.kb_grammar", "engine.apps.rag.retrieve",
                                      "engine.apps.structured.tutor", __name__),
                                parents=(TU.PARENT,)))


ANSWER_CHARS = frozenset(chr(b) for b in range(0x20, 0x100)) - {"[", "]", "\x7f"}  # bytes, as MaskVocab spells them


def citation_grammar(n_rules: int) -> R.Node:
    """' <answer> [i]' with i one of the rules in the prompt: the only citations the mask allows."""
    marker = R.alt(*(R.lit(str(i)) for i in range(1, n_rules + 1)))
    return R.seq(R.lit(" "), R.rep(R.chars(ANSWER_CHARS), 1, None), R.lit(" ["), marker, R.lit("]"))


def reader_for(model: nn.Module, tok: Any, cfg: dict[str, Any], masked: bool = True) -> GenerativeReader:
    """A GenerativeReader over greedy decoding of `model`. Masked, the answer must end in a marker of a
    rule the prompt holds (engine.apps.structured's regex mask); unmasked, it decodes freely to <eos>."""
    ctx = int(model.cfg.context_len)  # type: ignore[union-attr]
    budget = int(cfg["answer_budget"])
    vocab = MaskVocab(tok, B.BOS, B.EOS)
    lm = TorchLM(model, ctx)
    masks: dict[int, RegexMask] = {}

    def generate(prompt: str) -> str:
        ids = vocab.encode(prompt)
        if not masked:
            return str(tok.decode(generate_ids(model, ids, budget, (B.EOS, B.PAD))))
        n = len(RULE_LINE.findall(prompt))
        if n == 0:  # nothing to cite: the grammar has no marker to offer, so decode freely
            return str(tok.decode(generate_ids(model, ids, budget, (B.EOS, B.PAD))))
        mask = masks.setdefault(n, RegexMask(vocab, citation_grammar(n)))
        return generate_masked(lm, vocab, ids, np.random.default_rng(0), mask=mask, temperature=0.0,
                               max_new_tokens=budget).text

    return GenerativeReader(generate, fits_in(tok, ctx, budget), int(cfg["n_rules"]))


def tuned_reader(quick: bool = False, masked: bool = True) -> tuple[GenerativeReader, registry.Checkpoint]:
    model, ck = registry.load(NAME, quick)
    return reader_for(model, spine.tokenizer(quick), _config(quick), masked), ck


def example_accuracy(reader: GenerativeReader, items: Sequence[RD.ReaderExample]) -> dict[str, float]:
    """On held-out template questions: the form right, the stating rule cited, and both."""
    form = cite = both = 0
    for e in items:
        got_form, _, got_marker = reader.generate(e.prompt).strip().rpartition(" ")
        want_form, _, want_marker = e.answer.strip().rpartition(" ")
        f, c = got_form == want_form, got_marker == want_marker
        form, cite, both = form + int(f), cite + int(c), both + int(f and c)
    n = max(len(items), 1)
    return {"form": form / n, "citation": cite / n, "both": both / n}
