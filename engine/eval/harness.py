"""The harness: score candidates with a language model, aggregate by slice, compute perplexity.

The model is any callable `logits_fn(ids) -> (T, V) array` whose row i predicts token i + 1
(the Mini-GPT, an n-gram, a test fixture), with a tokenizer that has `encode(text, bos, eos)`.
- score_candidate: mean log-probability of the candidate's tokens after the prompt's prefix
  (length-normalised, so "will go" is not penalised for having more characters than "went").
  Off-by-one: the logits at position len(prefix_ids) - 1 predict the candidate's first token.
- classify_probe: softmax over the candidates' scores gives the confidence; argmax the answer.
- A candidate the tokenizer cannot encode makes the probe `model_oov`: counted, not scored.
- Grid accuracy: the same multiple-choice question asked of every sentence of a split (its own
  frame, the blank where the verb phrase goes). Run on `eval_split: train`, it measures memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.eval.metrics import wilson_interval
from engine.eval.probes import BLANK, Probe, answer, distractors

LogitsFn = Callable[[Sequence[int]], np.ndarray]
SLICES = ("language", "regularity", "tense", "person", "verb")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def can_encode(tok: Any, text: str) -> bool:
    return all(c in tok.stoi for c in text)


def score_candidate(logits_fn: LogitsFn, tok: Any, prefix: str, candidate: str) -> float:
    pre = tok.encode(prefix, bos=True, eos=False)
    ids = pre + tok.encode(candidate, bos=False, eos=False)
    logp = _log_softmax(logits_fn(ids))
    n = len(ids) - len(pre)
    rows = np.arange(len(pre) - 1, len(ids) - 1)
    return float(logp[rows, ids[len(pre):]].sum() / n)


def classify(logits_fn: LogitsFn, tok: Any, prefix: str, candidates: Sequence[str]) -> dict[str, Any]:
    if not all(can_encode(tok, c) for c in candidates) or not can_encode(tok, prefix):
        return {"model_oov": True}
    scores = np.array([score_candidate(logits_fn, tok, prefix, c) for c in candidates])
    p = np.exp(scores - scores.max())
    p /= p.sum()
    k = int(np.argmax(p))
    return {"model_oov": False, "prediction": candidates[k], "confidence": float(p[k]),
            "probs": [float(x) for x in p], "scores": [float(s) for s in scores]}


def classify_probe(logits_fn: LogitsFn, tok: Any, probe: Probe) -> dict[str, Any]:
    out = classify(logits_fn, tok, probe.prefix, probe.candidates)
    out.update(id=probe.id, expected=probe.expected, category=probe.category, reason_code=probe.reason_code,
               **{s: getattr(probe, s) for s in SLICES})
    if not out["model_oov"]:
        out["correct"] = out["prediction"] == probe.expected
    return out


def compute_ppl(logits_fn: LogitsFn, tok: Any, sentences: Sequence[str]) -> float:
    """Teacher-forced perplexity: exp of the mean NLL over every token after <bos> (incl. <eos>)."""
    total, count = 0.0, 0
    for s in sentences:
        ids = tok.encode(s)
        logp = _log_softmax(logits_fn(ids))
        total -= float(logp[np.arange(len(ids) - 1), ids[1:]].sum())
        count += len(ids) - 1
    return math.exp(total / count)


def slice_table(preds: list[dict[str, Any]], slices: Sequence[str] = SLICES) -> list[dict[str, Any]]:
    """Rows (slice_name, slice_value, n, correct, accuracy, wilson_lo, wilson_hi), weakest first per slice."""
    rows = []
    scored = [p for p in preds if not p["model_oov"]]
    for name in slices:
        groups: dict[str, list[bool]] = {}
        for p in scored:
            groups.setdefault(str(p[name]), []).append(bool(p["correct"]))
        block = []
        for value, hits in groups.items():
            c, n = sum(hits), len(hits)
            lo, hi = wilson_interval(c, n)
            block.append({"slice_name": name, "slice_value": value, "n": n, "correct": c, "accuracy": c / n,
                          "wilson_lo": lo, "wilson_hi": hi})
        rows += sorted(block, key=lambda r: (r["accuracy"], r["slice_value"]))
    return rows


def grid_items(examples: Sequence[Any], seed: int = 0) -> list[tuple[str, tuple[str, ...], str, Any]]:
    """One multiple-choice item per corpus sentence: (prefix, candidates, expected, example).

    The blank replaces the verb phrase in the sentence's own frame; the three distractors are
    drawn like a probe's (a wrong-person form first, then other forms of the verb), seeded.
    """
    rng = np.random.default_rng(seed)
    items = []
    for e in examples:
        right = answer(e.verb, e.tense, e.person)
        idx = e.text.rfind(right)
        if idx < 0 or e.text[idx:] != right:
            raise ValueError(f"{e.id}: cannot locate the verb phrase {right!r} in {e.text!r}")
        prefix = e.text[:idx]
        items.append((prefix, tuple([right] + distractors(e.verb, e.tense, e.person, rng)), right, e))
    return items


def grid_accuracy(logits_fn: LogitsFn, tok: Any, examples: Sequence[Any], seed: int = 0) -> dict[str, Any]:
    """Accuracy over a split's own sentences, overall and for regular / irregular verbs."""
    hits: dict[str, list[bool]] = {"all": [], "regular": [], "irregular": []}
    for prefix, cands, right, e in grid_items(examples, seed):
        r = classify(logits_fn, tok, prefix, cands)
        ok = (not r["model_oov"]) and r["prediction"] == right
        hits["all"].append(ok)
        hits["regular" if e.is_regular else "irregular"].append(ok)
    return {k: (sum(v) / len(v) if v else math.nan) for k, v in hits.items()} | {"n": len(hits["all"])}


def probe_text(probe: Probe) -> str:
    return probe.prompt.replace(BLANK, probe.expected)
