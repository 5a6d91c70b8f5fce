"""run_eval: everything the phase-20 report needs about one checkpoint, as one JSON-able dict.

Deterministic: no timings, no dates, fixed probe order; the same model and seed give a
byte-identical `json.dumps(result, sort_keys=True)`. The eval split is a parameter that
must be "val" or "train"; "train" is allowed only so the phase's break can show what it does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.lm.eval import harness as H
from engine.lm.eval import metrics as M
from engine.lm.eval import probes as P


def confusion(preds: list[dict[str, Any]], probes: Sequence[P.Probe]) -> dict[str, dict[str, int]]:
    """Rows: tense of the expected form; columns: right form / a wrong-person form / any other form."""
    by_id = {p.id: p for p in probes}
    out: dict[str, dict[str, int]] = {}
    for r in preds:
        if r["model_oov"]:
            continue
        p = by_id[r["id"]]
        row = out.setdefault(p.tense, {"right": 0, "wrong_person": 0, "other": 0})
        grid_forms = {P.answer(p.verb, p.tense, q) for q in P.PERSONS}
        wrong_person = set(p.extra.get("wrong_person") or grid_forms) - {p.expected}
        key = "right" if r["correct"] else ("wrong_person" if r["prediction"] in wrong_person else "other")
        row[key] += 1
    return out


def adversarial_summary(preds: list[dict[str, Any]]) -> dict[str, Any]:
    adv = [r for r in preds if r["category"] == "adversarial" and not r["model_oov"]]
    by_cat: dict[str, Any] = {}
    for cat in P.ADVERSARIAL:
        hits = [bool(r["correct"]) for r in adv if r["reason_code"] == cat]
        c, n = sum(hits), len(hits)
        by_cat[cat] = {"n": n, "correct": c, "accuracy": c / n if n else 0.0, "wilson": list(M.wilson_interval(c, n)),
                       "low_sample": n < 3}
    c, n = sum(bool(r["correct"]) for r in adv), len(adv)
    return {"overall": {"n": n, "correct": c, "accuracy": c / n if n else 0.0, "wilson": list(M.wilson_interval(c, n))},
            "by_category": by_cat}


def run_eval(logits_fn: H.LogitsFn, tok: Any, train_ex: Sequence[Any], val_ex: Sequence[Any],
             checkpoint_name: str, checkpoint_sha256: str, eval_split: str = "val", seed: int = 42,
             n_bins: int = 10, probes: Sequence[P.Probe] | None = None,
             items: Mapping[str, Sequence[tuple[str, Sequence[str], str, bool]]] | None = None,
             heldout_probes: bool = False) -> dict[str, Any]:
    """Score one checkpoint. Defaults: the §A13 grid probes (P.generate) and grid items from the examples.

    `probes` replaces the generated set (validated without the coverage minima, which are the grid
    set's); `items` maps "train" / "val" to (prefix, candidates, expected, is_regular) questions for
    the split accuracies; `heldout_probes` says the probes are cells of the val split itself, so only
    a training sentence counts as a leak.
    """
    if eval_split not in ("val", "train"):
        raise ValueError(f"eval_split must be 'val' or 'train', got {eval_split!r}")
    generated = probes is None
    if probes is None:
        core, adv = P.generate(seed)
        probes = core + adv
    else:
        probes = list(probes)
    set_sha = hashlib.sha256("".join(p.to_json() + "\n" for p in sorted(probes, key=lambda p: p.id)).encode()).hexdigest()
    val_hashes = set() if heldout_probes else P.sentence_hashes([e.text for e in val_ex])
    errs = P.validate_probes(probes, P.sentence_hashes([e.text for e in train_ex]), val_hashes,
                             check_coverage=generated)
    if errs:
        raise ValueError("probe set invalid, harness refuses to run: " + "; ".join(errs[:5]))
    preds = H.classify_probes(logits_fn, tok, probes)
    core_preds = [r for r in preds if r["category"] == "core" and not r["model_oov"]]
    conf = np.array([r["confidence"] for r in core_preds])
    ok = np.array([float(r["correct"]) for r in core_preds])
    c, n = int(ok.sum()), len(ok)
    eval_ex = val_ex if eval_split == "val" else train_ex
    ppl_train = H.compute_ppl(logits_fn, tok, [e.text for e in train_ex])
    ppl_val = H.compute_ppl(logits_fn, tok, [e.text for e in val_ex])
    def split_accuracy(split: str, examples: Sequence[Any]) -> dict[str, Any]:
        if items is None:
            return H.grid_accuracy(logits_fn, tok, examples, seed)
        return H.items_accuracy(logits_fn, tok, items[split])

    grid_eval = split_accuracy(eval_split, eval_ex)
    grid_val = grid_eval if eval_split == "val" else split_accuracy("val", val_ex)
    adversarial = adversarial_summary(preds)
    return {
        "checkpoint_name": checkpoint_name, "checkpoint_sha256": checkpoint_sha256, "probe_set_sha256": set_sha,
        "seed": seed, "eval_split": eval_split, "n_bins": n_bins,
        "headline": {"ppl_train": ppl_train, "ppl_val": ppl_val, "ppl_eval": ppl_val if eval_split == "val" else ppl_train,
                     "accuracy": c / n, "ci": list(M.wilson_interval(c, n)), "n_core": n,
                     "ece": M.ece(conf, ok, n_bins), "brier": M.brier(conf, ok),
                     "adversarial_accuracy": adversarial["overall"]["accuracy"],
                     "model_oov": sum(r["model_oov"] for r in preds)},
        "grid_accuracy": grid_eval, "grid_accuracy_val": grid_val,
        "slices": H.slice_table(preds_core_only(preds)),
        "reliability": M.reliability_bins(conf, ok, n_bins),
        "adversarial": adversarial,
        "confusion": confusion(preds, probes),
        "predictions": [{k: r[k] for k in ("id", "prediction", "confidence", "correct") if k in r} for r in preds],
    }


def preds_core_only(preds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in preds if r["category"] == "core"]
