"""The harness: score candidates with a language model, aggregate by slice, compute perplexity.

The model is any causal callable `logits_fn(ids (B, T) ints) -> (B, T, V) array` whose row i
predicts token i + 1 (the Mini-GPT, an n-gram, a test fixture), with a tokenizer that has
`encode(text, bos, eos)` (and `stoi` for a character tokenizer). Sequences are right-padded
with id 0 into batches.
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

from engine.lm.eval.metrics import wilson_interval
from engine.lm.eval.probes import BLANK, Probe, answer, distractors

LogitsFn = Callable[[np.ndarray], np.ndarray]
SLICES = ("language", "regularity", "tense", "person", "verb")
PAD = 0
CHUNK = 256


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def can_encode(tok: Any, text: str) -> bool:
    """A character tokenizer (`stoi`) knows a closed alphabet; a byte-level BPE encodes any text."""
    stoi = getattr(tok, "stoi", None)
    return stoi is None or all(c in stoi for c in text)


def token_logprobs(logits_fn: LogitsFn, seqs: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """log p(ids[i+1] | ids[:i+1]) for every sequence, as arrays of length len - 1.

    Sequences are right-padded into (B, T) batches of up to CHUNK rows. For a causal model
    right padding cannot change the logits of earlier positions, so one forward scores many
    candidates at once.
    """
    out: list[np.ndarray] = []
    for lo in range(0, len(seqs), CHUNK):
        chunk = seqs[lo:lo + CHUNK]
        width = max(len(s) for s in chunk)
        ids = np.full((len(chunk), width), PAD, dtype=np.int64)
        for i, s in enumerate(chunk):
            ids[i, :len(s)] = s
        logp = _log_softmax(logits_fn(ids))
        for i, s in enumerate(chunk):
            n = len(s)
            out.append(logp[i, np.arange(n - 1), ids[i, 1:n]])
    return out


def score_candidates(logits_fn: LogitsFn, tok: Any, items: Sequence[tuple[str, Sequence[str]]],
                     suffix: str | None = "") -> list[np.ndarray]:
    """For each (prefix, candidates): the mean log-probability of each candidate's tokens after the prefix.

    With `suffix` a string (default ""), the scored continuation runs on through the rest of
    the sentence and its <eos>: otherwise a candidate that is a prefix of another ("work" and
    "works") ties with it whenever the model is confident of the extra letters. `suffix=None`
    scores the candidate tokens alone, the course's rule.
    """
    seqs, spans = [], []
    for prefix, cands in items:
        pre = tok.encode(prefix, bos=True, eos=False)
        for c in cands:
            seqs.append(pre + tok.encode(c if suffix is None else c + suffix, bos=False, eos=suffix is not None))
            spans.append(len(pre))
    lps = token_logprobs(logits_fn, seqs)
    # token j of the sequence is predicted at row j - 1: the candidate starts at row len(prefix) - 1
    flat = [float(lp[start - 1:].mean()) for lp, start in zip(lps, spans, strict=True)]
    out, k = [], 0
    for _, cands in items:
        out.append(np.array(flat[k:k + len(cands)]))
        k += len(cands)
    return out


def score_candidate(logits_fn: LogitsFn, tok: Any, prefix: str, candidate: str, suffix: str | None = "") -> float:
    return float(score_candidates(logits_fn, tok, [(prefix, [candidate])], suffix)[0][0])


def _decide(scores: np.ndarray, candidates: Sequence[str]) -> dict[str, Any]:
    p = np.exp(scores - scores.max())
    p /= p.sum()
    k = int(np.argmax(p))
    return {"model_oov": False, "prediction": candidates[k], "confidence": float(p[k]),
            "probs": [float(x) for x in p], "scores": [float(s) for s in scores]}


def classify_many(logits_fn: LogitsFn, tok: Any, items: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, Any]]:
    """Softmax over each item's candidate scores; items with an unencodable string are model_oov."""
    ok = [i for i, (pre, cands) in enumerate(items) if can_encode(tok, pre) and all(can_encode(tok, c) for c in cands)]
    scores = score_candidates(logits_fn, tok, [items[i] for i in ok])
    out: list[dict[str, Any]] = [{"model_oov": True} for _ in items]
    for i, sc in zip(ok, scores, strict=True):
        out[i] = _decide(sc, items[i][1])
    return out


def classify(logits_fn: LogitsFn, tok: Any, prefix: str, candidates: Sequence[str]) -> dict[str, Any]:
    return classify_many(logits_fn, tok, [(prefix, candidates)])[0]


def classify_probes(logits_fn: LogitsFn, tok: Any, probes: Sequence[Probe]) -> list[dict[str, Any]]:
    results = classify_many(logits_fn, tok, [(p.prefix, p.candidates) for p in probes])
    for r, probe in zip(results, probes, strict=True):
        r.update(id=probe.id, expected=probe.expected, category=probe.category, reason_code=probe.reason_code,
                 **{s: getattr(probe, s) for s in SLICES})
        if not r["model_oov"]:
            r["correct"] = r["prediction"] == probe.expected
    return results


def classify_probe(logits_fn: LogitsFn, tok: Any, probe: Probe) -> dict[str, Any]:
    return classify_probes(logits_fn, tok, [probe])[0]


def compute_ppl(logits_fn: LogitsFn, tok: Any, sentences: Sequence[str]) -> float:
    """Teacher-forced perplexity: exp of the mean NLL over every token after <bos> (incl. <eos>)."""
    lps = token_logprobs(logits_fn, [tok.encode(s) for s in sentences])
    return math.exp(-sum(float(lp.sum()) for lp in lps) / sum(len(lp) for lp in lps))


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
    return items_accuracy(logits_fn, tok, [(p, c, r, e.is_regular) for p, c, r, e in grid_items(examples, seed)])


def items_accuracy(logits_fn: LogitsFn, tok: Any,
                   items: Sequence[tuple[str, Sequence[str], str, bool]]) -> dict[str, Any]:
    """Multiple-choice accuracy over (prefix, candidates, expected, is_regular) items, overall and per regularity."""
    hits: dict[str, list[bool]] = {"all": [], "regular": [], "irregular": []}
    results = classify_many(logits_fn, tok, [(prefix, cands) for prefix, cands, _, _ in items])
    for (_, _, right, regular), r in zip(items, results, strict=True):
        ok = (not r["model_oov"]) and r["prediction"] == right
        hits["all"].append(ok)
        hits["regular" if regular else "irregular"].append(ok)
    return {k: (sum(v) / len(v) if v else math.nan) for k, v in hits.items()} | {"n": len(hits["all"])}


def probe_text(probe: Probe) -> str:
    return probe.prompt.replace(BLANK, probe.expected)
