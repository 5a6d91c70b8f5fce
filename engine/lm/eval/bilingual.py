"""English and Spanish measured apart on the spine model (phase 20): perplexity, tokens per word, alignment.

- `language_nll(model, tok, rows)`: every pair line of the rows in both orders ("es:.. / en:.." and
  "en:.. / es:.."); each predicted token is given to the language whose form its bytes overlap
  most (tags, " / " and <eos> belong to neither), so PPL_en and PPL_es are exp(mean NLL) over the
  tokens of English and of Spanish forms. The two are per token of different tokenizations, so
  the course warns they are not comparable in level; their order is what the course predicts.
  Per-word PPL (a language's total NLL over its word count) is comparable across languages.
- `tokens_per_word(tok, rows)`: each form encoded on its own, tokens / whitespace words.
- `alignment(model, tok, rows, direction)`: for each cell, the line with the true translation
  against the lines with every other form of the same verb (14 distinct English or Spanish forms
  per verb), scored by log P(<bos> line <eos>); accuracy of the argmax. Chance is about 1/14.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from engine.lm.text import bilingual as B
from engine.lm.train import torch_lm

ORDERS = ("es-en", "en-es")


def _byte_span(line: str, span: tuple[int, int]) -> tuple[int, int]:
    return len(line[: span[0]].encode("utf-8")), len(line[: span[1]].encode("utf-8"))


def language_nll(model: Any, tok: Any, rows: Sequence[B.Example]) -> dict[str, list[float]]:
    """NLL (nats) of every English-form and Spanish-form token over both orders of each row's pair line."""
    lines, spans = [], []
    words = {"en": 0, "es": 0}
    for e in rows:
        words["en"] += len(ORDERS) * len(B.words(e.english))
        words["es"] += len(ORDERS) * len(B.words(e.spanish))
        for order in ORDERS:
            line = B.pair_line(e, order)
            lines.append(line)
            spans.append({lang: _byte_span(line, s) for lang, s in B.pair_spans(e, order).items()})
    seqs = torch_lm.encode_lines(tok, lines)
    out: dict[str, Any] = {"en": [], "es": [], "all": [], "words": words}
    for seq, nll, sp in zip(seqs, torch_lm.token_nll(model, seqs), spans, strict=True):
        tspans = torch_lm.token_byte_spans(tok, seq)
        for j in range(1, len(seq)):
            v = float(nll[j - 1])
            out["all"].append(v)
            a, b = tspans[j]
            overlap = {lang: max(0, min(b, s1) - max(a, s0)) for lang, (s0, s1) in sp.items()}
            lang = max(overlap, key=lambda k: overlap[k])
            if overlap[lang] > 0:
                out[lang].append(v)
    return out


def perplexities(model: Any, tok: Any, rows: Sequence[B.Example]) -> dict[str, float]:
    """Per-token PPL for en, es, all; and per-word PPL (exp of a language's total NLL / its words),
    which does not depend on how finely the tokenizer cuts that language, so en and es compare."""
    nll = language_nll(model, tok, rows)
    out = {k: math.exp(sum(nll[k]) / len(nll[k])) for k in ("en", "es", "all") if nll[k]}
    for lang in ("en", "es"):
        out[f"{lang}_per_word"] = math.exp(sum(nll[lang]) / nll["words"][lang])
    return out


def tokens_per_word(tok: Any, rows: Sequence[B.Example]) -> dict[str, float]:
    out = {}
    for lang in ("en", "es"):
        forms = [e.english if lang == "en" else e.spanish for e in rows]
        out[lang] = sum(len(tok.encode(f)) for f in forms) / sum(len(B.words(f)) for f in forms)
    return out


def alignment(model: Any, tok: Any, rows: Sequence[B.Example], direction: str = "es->en",
              pool: Sequence[B.Example] | None = None) -> dict[str, Any]:
    """Accuracy of picking the right translation among the same verb's forms (pool: where candidates come from)."""
    src, tgt = ("spanish", "english") if direction == "es->en" else ("english", "spanish")
    pool = list(pool if pool is not None else rows)
    by_verb: dict[str, list[str]] = {}
    for e in pool:
        forms = by_verb.setdefault(e.verb, [])
        if getattr(e, tgt) not in forms:
            forms.append(getattr(e, tgt))
    lines, owners = [], []
    for i, e in enumerate(rows):
        for cand in by_verb[e.verb]:
            fake = B.Example(e.id, e.text, cand if tgt == "english" else e.english,
                             cand if tgt == "spanish" else e.spanish, e.verb, e.tense, e.person, e.regular,
                             e.label, e.mis_type)
            lines.append(B.pair_line(fake, "es-en" if direction == "es->en" else "en-es"))
            owners.append((i, cand))
    scores = torch_lm.line_logprob(model, tok, lines)
    best: dict[int, tuple[float, str]] = {}
    for (i, cand), s in zip(owners, scores, strict=True):
        if i not in best or s > best[i][0]:
            best[i] = (s, cand)
    correct = [best[i][1] == getattr(e, tgt) for i, e in enumerate(rows)]
    n_cands = sum(len(by_verb[e.verb]) for e in rows) / max(len(rows), 1)
    return {"accuracy": sum(correct) / max(len(correct), 1), "n": len(correct), "mean_candidates": n_cands,
            "chance": sum(1 / len(by_verb[e.verb]) for e in rows) / max(len(rows), 1)}
