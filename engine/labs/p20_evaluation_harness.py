"""Phase 20 labs: the probe set, the harness, calibration and adversarial scores, report and compare.

Labs 01-03 evaluate the course's one model, the phase-18 spine checkpoint (quick in --quick runs,
full otherwise) as the NumPy twin with its BPE tokenizer (engine.lm.models.spine_numpy), asked in
its pair format: "es:<spanish> / en:___" over the held-out verbs (engine.lm.eval.spine_eval);
the manifest names the checkpoints. Lab 00 builds and validates the §A13 grid probe set (no model).
This phase trains nothing. Fault `eval_on_train` (the phase's break): the harness's
eval split points at the training sentences.
"""

from __future__ import annotations

import csv
import json
import math
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.core.threads import blas_threads
from engine.lm.eval import metrics as M
from engine.lm.eval import probes as P
from engine.lm.eval import spine_eval as S
from engine.lm.eval.evaluate import run_eval
from engine.lm.eval.report import render_compare, render_report, significant
from engine.lm.train.data import held_out_split, load_corpus
from engine.scratch.autograd.tensor import no_grad

FAULT = "eval_on_train"


def _splits() -> tuple[list[Any], list[Any]]:
    return held_out_split(load_corpus())


def _checkpoint(quick: bool, rec: Recorder) -> tuple[Any, Any, str, str]:
    """The phase-18 spine as the NumPy twin, its tokenizer, weights sha256 and name; named in the manifest."""
    from engine.lm.models import spine_numpy

    model, tok, cks = spine_numpy.load(quick)
    return model, tok, cks[0].record()["sha256"], spine_numpy.record(rec, cks)


def _eval(model: Any, tok: Any, name: str, sha: str, split: str, seed: int, n_bins: int = 10) -> dict:
    """run_eval on the spine: pair-format probes and items, the held-out verbs as the val split."""
    items = {s: S.grid_items(s, seed) for s in ("train", "val")}
    return run_eval(_logits_fn(model), tok, S.rows("train"), S.rows("val"), name, sha, split, seed, n_bins,
                    probes=S.probes(seed), items=items, heldout_probes=True)


def _logits_fn(model: Any) -> Any:
    def fn(ids: Any) -> np.ndarray:
        with no_grad():
            return model(np.asarray(ids, dtype=np.int64)).data
    return fn


# ---------------------------------------------------------------------- lab 00: probes
def _validator_catches(train_h: set[str], val_h: set[str], core: list[P.Probe], adv: list[P.Probe]) -> dict[str, bool]:
    from dataclasses import replace

    base = core + adv
    p0 = core[0]
    go = next(p for p in core if p.verb == "go")
    leak_text = next(iter(sorted(load_text_train())))
    work = next(p for p in core if p.verb == "work")
    val_text = next(iter(sorted(e.text for e in _splits()[1])))
    cases = {
        "catches_duplicate_id": base + [replace(core[1], id=p0.id)],
        "catches_leak": base + [replace(p0, id="probe-leak", prompt=P.BLANK, expected=leak_text,
                                        candidates=(leak_text, "x"))],
        "catches_regularity_mismatch": [replace(go, regularity="regular") if p is go else p for p in base],
        "catches_expected_not_in_candidates": [replace(p0, expected="zzz") if p is p0 else p for p in base],
        "catches_missing_coverage": [p for p in base if p.tense != "future"],
        "catches_val_leak": base + [replace(p0, id="probe-val-leak", prompt=P.BLANK, expected=val_text,
                                            candidates=(val_text, "x"))],
        "catches_repeated_candidate": [replace(p0, candidates=(p0.expected, p0.expected)) if p is p0 else p for p in base],
        "catches_regular_marked_irregular": [replace(work, regularity="irregular") if p is work else p for p in base],
    }
    needles = {"catches_duplicate_id": "duplicate id", "catches_leak": "leaks", "catches_regularity_mismatch":
               "does not match", "catches_expected_not_in_candidates": "not among candidates",
               "catches_missing_coverage": "tense=future", "catches_val_leak": "is a val sentence",
               "catches_repeated_candidate": "distinct candidates", "catches_regular_marked_irregular": "does not match"}
    return {k: any(needles[k] in e for e in P.validate_probes(v, train_h, val_h)) for k, v in cases.items()}


def load_text_train() -> set[str]:
    return {e.text for e in _splits()[0]}


def probe_schema(cfg: dict, rec: Recorder) -> dict:
    """Generate, write twice, reload and validate the probe set; show the validator catches each fault."""
    seed = int(cfg["seed"])
    core, adv = P.generate(seed, int(cfg["core_target"]), int(cfg["adversarial_target"]))
    paths = {}
    for tag in ("a", "b"):
        c2, a2 = P.generate(seed, int(cfg["core_target"]), int(cfg["adversarial_target"]))
        paths[tag] = (P.write_jsonl(c2, rec.out_dir / f"probes.{tag}.jsonl"),
                      P.write_jsonl(a2, rec.out_dir / f"adversarial.{tag}.jsonl"))
    (rec.out_dir / "probes.b.jsonl").rename(rec.out_dir / "probes.jsonl")
    (rec.out_dir / "adversarial.b.jsonl").rename(rec.out_dir / "adversarial.jsonl")
    (rec.out_dir / "probes.a.jsonl").unlink()
    (rec.out_dir / "adversarial.a.jsonl").unlink()
    rec.artifact(rec.out_dir / "probes.jsonl", "core probes")
    rec.artifact(rec.out_dir / "adversarial.jsonl", "adversarial probes")
    loaded = P.load_probes(rec.out_dir / "probes.jsonl") + P.load_probes(rec.out_dir / "adversarial.jsonl")
    train_ex, val_ex = _splits()
    th, vh = P.sentence_hashes([e.text for e in train_ex]), P.sentence_hashes([e.text for e in val_ex])
    errs = P.validate_probes(loaded, th, vh)
    for e in errs:
        rec.note(e)
    leaks = [e for e in errs if "leaks" in e]
    from collections import Counter

    counts = Counter(p.tense for p in core)
    for i, (t, n) in enumerate(sorted(counts.items())):
        rec.log(i, stage="coverage", slice_name="tense", slice_value=t, n=n)
    out = {
        "core_probes": len(core), "adversarial_probes": len(adv), "validation_errors": len(errs),
        "leaked_probes": len(leaks), "coverage_minima_met": not P.coverage_problems(loaded),
        "generation_byte_identical": paths["a"] == paths["b"], "reload_equal": loaded == core + adv
        or sorted(loaded, key=lambda p: p.id) == sorted(core + adv, key=lambda p: p.id),
        "probe_set_sha256": paths["a"][0], "adversarial_set_sha256": paths["a"][1],
    }
    out.update(_validator_catches(th, vh, core, adv))
    out["validator_catches_all"] = all(v for k, v in out.items() if k.startswith("catches_"))
    return out


# ---------------------------------------------------------------------- lab 01: harness
def _direct_scores(model: Any, tok: Any, prefix: str, candidates: list[str]) -> list[float]:
    """Each candidate scored one sequence at a time, unbatched, written out: the mean log-probability
    (float64 log-softmax) of every token after the prefix - candidate, rest of sentence, <eos>."""
    pre = tok.encode(prefix, bos=True, eos=False)
    out = []
    for c in candidates:
        ids = pre + tok.encode(c, bos=False, eos=True)
        with no_grad():
            z = model(np.asarray(ids, dtype=np.int64)).data.astype(np.float64)
        logp = z - z.max(-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        out.append(float(np.mean([logp[j - 1, ids[j]] for j in range(len(pre), len(ids))])))
    return out


def scoring_reference(model: Any, tok: Any, n: int = 12) -> dict[str, float]:
    """The harness's batched candidate scores and choices against `_direct_scores` on the first core probes."""
    from engine.lm.eval.harness import can_encode, classify_probes

    probes = [p for p in S.core_probes() if can_encode(tok, p.prefix + "".join(p.candidates))][:n]
    preds = classify_probes(_logits_fn(model), tok, probes)
    worst, agree = 0.0, 0
    for p, r in zip(probes, preds, strict=True):
        ref = _direct_scores(model, tok, p.prefix, list(p.candidates))
        worst = max(worst, float(np.max(np.abs(np.asarray(r["scores"]) - ref))))
        agree += r["prediction"] == p.candidates[int(np.argmax(ref))]
    return {"scores_vs_direct_max_abs_diff": worst, "choices_match_direct": agree == len(probes),
            "direct_probes": len(probes)}


def harness(cfg: dict, rec: Recorder) -> dict:
    """Evaluate the phase-18 checkpoint: perplexity, per-slice probe accuracy, grid accuracy on the eval split."""
    split = "train" if cfg["fault"] == FAULT else str(cfg["eval_split"])
    model, tok, sha, name = _checkpoint(bool(cfg["quick"]), rec)
    with blas_threads(1):
        res = _eval(model, tok, name, sha, split, int(cfg["seed"]))
        again = _eval(model, tok, name, sha, split, int(cfg["seed"]))
    identical = json.dumps(res, sort_keys=True) == json.dumps(again, sort_keys=True)
    (rec.out_dir / "eval_results.json").write_text(json.dumps(res, sort_keys=True, indent=1))
    rec.artifact(rec.out_dir / "eval_results.json", "harness results with every prediction")
    with open(rec.out_dir / "per_slice.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["slice_name", "slice_value", "n", "correct", "accuracy", "wilson_lo", "wilson_hi"])
        w.writeheader()
        w.writerows(res["slices"])
    rec.artifact(rec.out_dir / "per_slice.csv", "per-slice table")
    for i, r in enumerate(x for x in res["slices"] if x["slice_name"] != "verb"):
        rec.log(i, stage="slices", slice_name=r["slice_name"], slice_value=r["slice_value"], accuracy=r["accuracy"],
                n=r["n"], wilson_lo=r["wilson_lo"], wilson_hi=r["wilson_hi"])
    h = res["headline"]
    g, gv = res["grid_accuracy"], res["grid_accuracy_val"]
    lo, _ = M.wilson_interval(48, 60)
    # the harness's teacher-forced perplexity (NumPy twin) against the torch twin's token NLL (independent code)
    ref_ppl = _torch_ppl(bool(cfg["quick"]), [r.text for r in S.rows("val")])
    with blas_threads(1):
        direct = scoring_reference(model, tok)
    return {
        **direct,
        "checkpoint": name, "eval_split": split, "results_byte_identical": identical,
        "ppl_train": h["ppl_train"], "ppl_val": h["ppl_val"],
        "ppl_val_vs_torch_rel_diff": abs(h["ppl_val"] - ref_ppl) / ref_ppl,
        "ppl_finite": bool(math.isfinite(h["ppl_val"]) and math.isfinite(h["ppl_train"]) and h["ppl_val"] > 1),
        "ppl_train_below_val": bool(h["ppl_train"] < h["ppl_val"]),
        "probe_accuracy": h["accuracy"], "probe_accuracy_ci": h["ci"], "model_oov": h["model_oov"],
        "accuracy": g["all"], "accuracy_regular": g["regular"], "accuracy_irregular": g["irregular"],
        "val_accuracy": gv["all"], "accuracy_minus_val_accuracy": g["all"] - gv["all"],
        "wilson_48_of_60_low": lo,
        "weakest_slice": min((r for r in res["slices"] if r["slice_name"] in ("regularity", "tense", "person")),
                             key=lambda r: r["accuracy"])["slice_value"],
    }


def _torch_ppl(quick: bool, lines: list[str]) -> float:
    """Perplexity of the lines under the registry's torch checkpoint, one thread."""
    from engine.core.threads import torch_threads
    from engine.lm.models import registry

    model, _ = registry.load("phase-18", quick)
    bpe, _ = registry.load("tokenizer", quick)
    with torch_threads(1):
        return S.torch_ppl(model, bpe, lines)


# ---------------------------------------------------------------------- lab 02: calibration
def calibration(cfg: dict, rec: Recorder) -> dict:
    """ECE and Brier on known cases, then on the checkpoint's core probes; adversarial accuracy by category."""
    n_bins = int(cfg["n_bins"])
    rng = np.random.default_rng(cfg["seed"])
    ok70 = np.array([1.0] * 70 + [0.0] * 30)
    ok50 = np.array([1.0] * 50 + [0.0] * 50)
    out: dict[str, Any] = {
        "ece_perfectly_calibrated_case": M.ece(np.full(100, 0.7), ok70, n_bins),
        "ece_overconfident_case": M.ece(np.full(100, 0.95), ok50, n_bins),
        "brier_perfect_case": M.brier(np.ones(50), np.ones(50)) + M.brier(np.zeros(50), np.zeros(50)),
        "brier_coinflip_case": M.brier(np.full(10000, 0.5), rng.integers(0, 2, 10000)),
        # (0.3^2 + 0.2^2 + 0.1^2) / 3 and (0.5^2 + 0.5^2 + 0) / 3, averaged: the per-class mean
        "brier_multiclass_hand_case": M.brier_multiclass(np.array([[0.7, 0.2, 0.1], [0.5, 0.0, 0.5]]), np.array([0, 2])),
        "ece_last_bin_includes_one": M.reliability_bins(np.array([1.0]), np.array([1.0]), n_bins)[-1]["count"] == 1,
        # by hand, 10 bins: 0.2 and 0.3 sit on edges (bins 1 and 2); bins 1 (0.2, 0.2 | 1 of 2 right), 2 (0.3 | 0 of 1),
        # 8 (0.9, 0.9 | 2 of 2), 9 (1.0 | 1 of 1): ECE = (2|0.5-0.2| + |0-0.3| + 2|1-0.9| + 0) / 6 = 1.1 / 6
        "bin_of_confidence_0_5": next(b["bin"] for b in M.reliability_bins(np.array([0.5]), np.array([1.0]), 10) if b["count"]),
        "ece_hand_case_abs_err": abs(M.ece(np.array([0.2, 0.2, 0.3, 0.9, 0.9, 1.0]), np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0]), 10)
                                     - 1.1 / 6),
    }
    model, tok, sha, name = _checkpoint(bool(cfg["quick"]), rec)
    with blas_threads(1):
        res = _eval(model, tok, name, sha, "val", int(cfg["seed"]), n_bins)
    for b in res["reliability"]:
        if b["count"]:
            rec.log(b["bin"], stage="reliability", confidence=b["confidence"], accuracy=b["accuracy"], count=b["count"])
    cats = res["adversarial"]["by_category"]
    for i, (cat, r) in enumerate(cats.items()):
        rec.log(i, stage="adversarial", category=cat, accuracy=r["accuracy"], n=r["n"], wilson_lo=r["wilson"][0],
                wilson_hi=r["wilson"][1])
    h = res["headline"]
    out.update({
        "checkpoint": name, "ece": h["ece"], "brier": h["brier"], "core_accuracy": h["accuracy"],
        "mean_confidence": float(np.mean([p["confidence"] for p in res["predictions"]
                                          if "confidence" in p and not p["id"].startswith("adv-")])),
        "adversarial_accuracy": h["adversarial_accuracy"],
        "adversarial_categories_scored": sum(1 for r in cats.values() if r["n"] > 0),
        "adversarial_low_sample_categories": sum(1 for r in cats.values() if r["low_sample"]),
        "over_regularization_accuracy": cats["over_regularization"]["accuracy"],
    })
    out["overconfident"] = bool(out["mean_confidence"] > h["accuracy"])
    return out


# ---------------------------------------------------------------------- lab 03: report and compare
def report_compare(cfg: dict, rec: Recorder) -> dict:
    """REPORT.md for two checkpoints and COMPARE.md between them, plus the significance rule on known cases."""
    results = []
    if cfg["quick"]:  # quick: an untrained spine-shaped Mini-GPT against the quick spine checkpoint
        from engine.lm.models.gpt import MiniGPT

        model_b, tok, sha_b, name_b = _checkpoint(True, rec)
        model_a = MiniGPT(model_b.cfg, rng=np.random.default_rng(int(cfg["seed"])))
        pairs = [(model_a, tok, "untrained-init", "0" * 64), (model_b, tok, name_b, sha_b)]
    else:
        model_a, tok_a, sha_a, name_a = _checkpoint(True, rec)
        model_b, tok_b, sha_b, name_b = _checkpoint(False, rec)
        pairs = [(model_a, tok_a, name_a, sha_a), (model_b, tok_b, name_b, sha_b)]
    sections = []
    with blas_threads(1):
        for i, (m, tk, name, sha) in enumerate(pairs):
            res = _eval(m, tk, name, sha, "val", int(cfg["seed"]))
            results.append(res)
            path = rec.out_dir / f"REPORT-{'AB'[i]}.md"
            sections.append(render_report(res, path))
            rec.artifact(path, f"report {name}")
    rows = render_compare(results[0], results[1], rec.out_dir / "COMPARE.md")
    rec.artifact(rec.out_dir / "COMPARE.md", "comparison")
    for i, r in enumerate(rows):
        rec.log(i, stage="compare", slice=r["slice"], delta=r["delta"])
    text = (rec.out_dir / "REPORT-A.md").read_text(encoding="utf-8")
    return {
        "report_sections": min(sections), "interpretation_placeholder_present": "TODO" in text,
        "compare_flags_1pp_as_noise": significant(48, 60, 49, 60) == "within noise",
        "compare_flags_20pp_drop": significant(96, 120, 72, 120) == "▼",
        "drop_20pp_at_n60_flagged": significant(48, 60, 36, 60) == "▼",
        "exact_10pp_at_n1000_flagged": significant(100, 1000, 200, 1000) == "▲",
        "big_but_overlapping_is_noise": significant(5, 10, 8, 10) == "within noise",
        "significant_slice_changes": sum(r["flag"] != "within noise" for r in rows),
        "accuracy_a": results[0]["headline"]["accuracy"], "accuracy_b": results[1]["headline"]["accuracy"],
    }
