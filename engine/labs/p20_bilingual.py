"""Phase 20, lab 04: the spine model evaluated per language (English and Spanish apart).

The checkpoint is the phase-18 stage of the model cache (engine.lm.train.spine: the torch twin trained
on the bilingual pair lines of the 16 training verbs, tokenized by the phase-11 BPE). Reported for
train and val (the 4 held-out verbs): PPL over English-form and Spanish-form tokens, tokens per
word per language, and bilingual alignment accuracy in both directions (engine.lm.eval.bilingual).
The course's healthy run has PPL_es > PPL_en, val worse than train and alignment better on train;
those directions are checked, their sizes are reported. The run's manifest names the checkpoint.

Fault `tokenizer_mismatch` (the break): the model is scored with a tokenizer trained on the
English side only, so ids mean other tokens than the ones the model learned.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.core.run import Recorder
from engine.core.threads import torch_threads
from engine.lm.eval import bilingual as EB
from engine.lm.models import registry
from engine.lm.text import bilingual as B
from engine.lm.text.bpe import BPETokenizer
from engine.lm.train import spine

FAULT = "tokenizer_mismatch"


def _subset(rows: list[B.Example], n: int) -> list[B.Example]:
    """Every k-th row, so a quick run still covers every verb, tense and person."""
    if n <= 0 or n >= len(rows):
        return rows
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def bilingual_eval(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    quick = bool(cfg["quick"])
    model, ck = registry.load("phase-18", quick)
    tok, tok_ck = registry.load("tokenizer", quick)
    registry.record(rec, ck)
    registry.record(rec, tok_ck)
    if cfg["fault"] == FAULT:
        english = [f"en:{e.english}" for e in B.examples("all")]
        tok = BPETokenizer.train(english, tok.vocab_size, B.SPECIALS)
    res: dict[str, Any] = {"checkpoint": ck.key, "tokenizer": tok_ck.key}
    with torch_threads(1), torch.no_grad():
        for split in ("train", "val"):
            rows = B.unique_cells(B.examples(split))
            ppl = EB.perplexities(model, tok, rows)
            for lang in ("en", "es", "all", "en_per_word", "es_per_word"):
                res[f"ppl_{lang}_{split}"] = ppl[lang]
            scored = _subset(rows, int(cfg["align_cells"]))
            for direction in ("es->en", "en->es"):
                a = EB.alignment(model, tok, scored, direction, pool=rows)
                tag = direction.replace("->", "_to_")
                res[f"align_{tag}_{split}"] = a["accuracy"]
                res[f"align_chance_{split}"] = a["chance"]
                rec.log(0, split=split, direction=direction, accuracy=a["accuracy"], chance=a["chance"])
            rec.log(0, split=split, ppl_en=ppl["en"], ppl_es=ppl["es"], stage="ppl")
    tpw = EB.tokens_per_word(tok, B.unique_cells(B.examples("all")))
    res["tokens_per_word_en"], res["tokens_per_word_es"] = tpw["en"], tpw["es"]
    res["es_costs_more_tokens_per_word"] = tpw["es"] > tpw["en"]
    res["ppl_gap_es_over_en_train"] = res["ppl_es_train"] > res["ppl_en_train"]
    res["per_word_gap_es_over_en_train"] = res["ppl_es_per_word_train"] > res["ppl_en_per_word_train"]
    res["val_worse_than_train"] = res["ppl_all_val"] > res["ppl_all_train"]
    res["align_train_beats_val"] = res["align_es_to_en_train"] > res["align_es_to_en_val"]
    rec.note(f"checkpoint phase-18 {ck.key} ({ck.mode}) at {ck.path}; tokenizer {tok_ck.key}")
    return res
