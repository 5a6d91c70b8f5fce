"""Phase 26 on the spine model: the cached phase-18 base, its bilingual eval lines, perplexity per language.

Every phase-26 lab quantizes the same checkpoint (engine.lm.train.spine, named in the manifest) and
scores it on the same lines: the pair lines ("es:él trabaja / en:he works" and the en-first order)
of the held-out verbs and of the training verbs. A token counts for a language when its bytes lie
inside that language's form (engine.lm.text.bilingual.pair_spans); the "es:" / " / en:" scaffolding
is scored in the overall perplexity only. Perplexity is exp(mean NLL per token), in nats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from engine.lm.text import bilingual as B
from engine.lm.train import spine, torch_lm

ORDERS = ("es-en", "en-es")


def eval_examples(split: str) -> list[B.Example]:
    return B.unique_cells(B.examples(split, "correct"))


def _byte_span(line: str, span: tuple[int, int]) -> tuple[int, int]:
    return len(line[: span[0]].encode()), len(line[: span[1]].encode())


def language_masks(tok: Any, examples: Sequence[B.Example]) -> tuple[list[list[int]], list[dict[str, torch.Tensor]]]:
    """Token ids (<bos> line <eos>) of both orders of each example, and per line a bool mask per language
    over its predicted tokens (position j predicts token j + 1)."""
    seqs, masks = [], []
    for e in examples:
        for order in ORDERS:
            line = B.pair_line(e, order)
            ids = torch_lm.encode_lines(tok, [line])[0]
            spans = torch_lm.token_byte_spans(tok, ids)[1:]  # the predicted tokens
            m = {}
            for lang, span in B.pair_spans(e, order).items():
                lo, hi = _byte_span(line, span)
                m[lang] = torch.tensor([lo <= a and b <= hi and b > a for a, b in spans])
            seqs.append(ids)
            masks.append(m)
    return seqs, masks


def language_perplexity(model: nn.Module, tok: Any, examples: Sequence[B.Example]) -> dict[str, float]:
    """{"all", "en", "es"} perplexities over the pair lines of `examples` (both orders)."""
    seqs, masks = language_masks(tok, examples)
    nll = torch_lm.token_nll(model, seqs)
    out = {"all": math.exp(float(torch.cat(nll).mean()))}
    for lang in ("en", "es"):
        picked = torch.cat([n[m[lang]] for n, m in zip(nll, masks, strict=True)])
        out[lang] = math.exp(float(picked.mean()))
    return out


def tense_accuracy(model: nn.Module, tok: Any, examples: Sequence[B.Example]) -> float:
    """Given "es:<Spanish> / en:", does the model score the right English tense surface above the other five?

    For each example every tense surface of the same verb and person is scored as a whole line
    (log P(<bos> line <eos>)); it is correct when the example's own surface wins. Surfaces that
    coincide in English (the participle "come" and the lemma) count as correct together.
    """
    from engine.lm.text.corpus import TENSE_SURFACES, english_form

    lines, truth, groups = [], [], []
    for e in examples:
        p = ("1sg", "2sg", "3sg").index(e.person)
        cands = list(dict.fromkeys(english_form(e.verb, t, p) for t in TENSE_SURFACES))
        lines += [f"es:{e.spanish} / en:{c}" for c in cands]
        truth.append(cands.index(e.english))
        groups.append(len(cands))
    scores = torch_lm.line_logprob(model, tok, lines)
    hits, at = 0, 0
    for t, n in zip(truth, groups, strict=True):
        s = scores[at: at + n]
        hits += int(max(range(n), key=lambda i: s[i]) == t)
        at += n
    return hits / max(len(examples), 1)


def base(quick: bool) -> tuple[nn.Module, Any, Any]:
    """(model, tokenizer, checkpoint) of the phase-18 base: frozen, eval mode, shared in-process."""
    return spine.base_model(quick)


def spine_speed_rows(repeats: int = 10, quick: bool = True) -> list[dict[str, Any]]:
    """FP32 vs INT8-kernel forward passes: the phase-18 model, and wider members of the same family
    (random weights: speed does not depend on them), on a (64, 32) batch of token ids."""
    from engine.lm.models.gpt import MiniGPTConfig
    from engine.lm.models.gpt_torch import GPT
    from engine.torchstack.quant.speed import model_speed

    model, _, _ = base(quick)
    x = torch.randint(0, model.cfg.vocab_size, (64, 32))
    rows = [{"name": f"phase-18 d={model.cfg.d_model}", **model_speed(model, x[:8], repeats)}]
    for d in (256, 1024):  # on an (8, 32) batch, as phase 26 lab-04
        cfg = MiniGPTConfig(**{**model.cfg.__dict__, "d_model": d, "d_ff": 4 * d, "n_heads": max(4, d // 64)})
        rows.append({"name": f"same family d={d}", **model_speed(GPT(cfg, seed=0), x[:8], max(3, repeats // 3))})
    return rows
