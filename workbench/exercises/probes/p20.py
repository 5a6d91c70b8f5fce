"""Phase 20 probes: per-token log-probabilities (the off-by-one), Wilson intervals, ECE bins and Brier.

Token scoring uses a fixed random "model" whose logits depend on the whole prefix, so a
shifted index shows; sequences of length 2 and ragged batches are included. Wilson is compared
at c = 0, c = n, n = 0 and random counts. Calibration is compared with confidences exactly on
bin edges (0, 0.1, ..., 1.0), random ones, empty bins and n = 0.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from engine.labs.p20_evaluation_harness import load_text_train
from engine.lm.eval import probes as P
from workbench.exercises.probes._compare import compare


def _toy_model(seed: int, vocab: int = 11) -> Any:
    w = np.random.default_rng(seed).normal(size=(vocab, vocab))

    def logits_fn(ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        one_hot = np.eye(vocab)[ids]
        running = np.cumsum(one_hot, axis=1) / np.arange(1, ids.shape[1] + 1)[None, :, None]
        return 2.0 * running @ w + 0.5 * one_hot @ w.T

    return logits_fn


def scoring(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    fn = _toy_model(int(rng.integers(1 << 30)))
    batches = [[[1, 4]], [[1, 5, 6, 2]], [[1, 3, 3, 3, 2], [1, 7, 2], [1, 9]]]
    batches.append([[1, *rng.integers(3, 11, int(rng.integers(1, 9))).tolist(), 2] for _ in range(12)])
    for i, seqs in enumerate(batches):
        got, want = learner.token_logprobs(fn, seqs), reference.token_logprobs(fn, seqs)
        out += compare(
            "token_logprobs", f"batch #{i} of {len(seqs)} sequences, lengths {[len(s) for s in seqs]}", got, want
        )
    # the same sequence alone or next to longer ones: right padding must not change its scores
    alone = learner.token_logprobs(fn, [[1, 6, 2]])
    padded = learner.token_logprobs(fn, [[1, 6, 2], [1, 6, 2, 9, 9, 9]])
    out += compare("token_logprobs", "a sequence scored alone and in a padded batch", padded[0], alone[0])
    for c, n in ((48, 60), (0, 10), (10, 10), (0, 0), (1, 1), *((int(x), 50) for x in rng.integers(0, 51, 6))):
        out += compare(
            "wilson_interval", f"c = {c}, n = {n}", learner.wilson_interval(c, n), reference.wilson_interval(c, n)
        )
    out += compare("wilson_interval", "c = 7, n = 20 at z = 2.576", learner.wilson_interval(7, 20, 2.576),
                   reference.wilson_interval(7, 20, 2.576))
    return out


def _rows(bins: list[dict[str, Any]]) -> list[list[float]]:
    return [[float(b[k]) for k in ("bin", "lo", "hi", "count", "accuracy", "confidence")] for b in bins]


def calibration(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    edges = np.round(np.arange(0, 11) / 10, 10)
    cases = [(edges, (rng.random(11) < 0.5).astype(float)),
             (rng.random(200), (rng.random(200) < 0.6).astype(float)),
             (np.full(100, 0.95), np.array([1.0] * 50 + [0.0] * 50)),
             (rng.uniform(0.8, 1.0, 40), (rng.random(40) < 0.9).astype(float)),  # most bins empty
             (np.array([0.0, 1.0]), np.array([0.0, 1.0]))]
    for i, (conf, ok) in enumerate(cases):
        for bins in (10, 4):
            what = f"case #{i} ({len(conf)} items), {bins} bins"
            out += compare(
                "reliability_bins",
                f"{what} (bin, lo, hi, count, accuracy, confidence)",
                _rows(learner.reliability_bins(conf, ok, bins)),
                _rows(reference.reliability_bins(conf, ok, bins)),
            )
            out += compare("ece", what, learner.ece(conf, ok, bins), reference.ece(conf, ok, bins))
        out += compare("brier", f"case #{i}", learner.brier(conf, ok), reference.brier(conf, ok))
    out += compare("ece", "no items", learner.ece(np.zeros(0), np.zeros(0)), 0.0)
    out += compare("brier", "no items", learner.brier(np.zeros(0), np.zeros(0)), 0.0)
    return out


def significance(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """The compare rule on the course's cases, exact 10-point gaps, both directions and random counts."""
    out: list[str] = []
    cases = [(48, 60, 49, 60), (96, 120, 72, 120), (48, 60, 36, 60), (36, 60, 48, 60), (10, 100, 20, 100),
             (50, 100, 60, 100), (0, 30, 30, 30), (30, 30, 0, 30), (5, 10, 6, 10), (200, 1000, 300, 1000),
             (100, 1000, 200, 1000), (500, 1000, 750, 1000), (750, 1000, 500, 1000)]  # exactly 10 / 25 points apart
    cases += [(int(c), int(n), int(d), int(m)) for n, m in ((60, 60), (20, 200), (500, 500))
              for c, d in zip(rng.integers(0, n + 1, 8), rng.integers(0, m + 1, 8), strict=True)]
    for c_a, n_a, c_b, n_b in cases:
        for delta in (0.10, 0.05, 0.25):
            out += compare(
                "significant",
                f"A {c_a}/{n_a} vs B {c_b}/{n_b}, min_delta {delta}",
                learner.significant(c_a, n_a, c_b, n_b, delta),
                reference.significant(c_a, n_a, c_b, n_b, delta),
            )
    return out


def validator(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """The probe-set validator on the generated set and on copies with one planted problem each."""
    out: list[str] = []
    core, adv = P.generate(int(rng.integers(0, 1000)))
    base = core + adv
    train_h = P.sentence_hashes(sorted(load_text_train()))
    p0, p1 = core[0], core[1]
    go = next(p for p in core if p.verb == "go")
    work = next(p for p in core if p.verb == "work")
    leak = sorted(load_text_train())[int(rng.integers(0, 10))]
    cases = {
        "the generated set": base,
        "a duplicate id": base + [replace(p1, id=p0.id)],
        "a leaked train sentence": base
        + [replace(p0, id="leak-1", prompt=P.BLANK, expected=leak, candidates=(leak, "x"))],
        "a leaked val sentence": base
        + [replace(p0, id="leak-2", prompt=P.BLANK + " now", expected="he works", candidates=("he works", "he work"))],
        "an irregular verb marked regular": [replace(go, regularity="regular") if p is go else p for p in base],
        "a regular verb marked irregular": [replace(work, regularity="irregular") if p is work else p for p in base],
        "an expected form missing from the candidates": [replace(p0, expected="zzz") if p is p0 else p for p in base],
        "one candidate only": [replace(p0, candidates=(p0.expected,)) if p is p0 else p for p in base],
        "a repeated candidate": [replace(p0, candidates=(p0.expected, p0.expected)) if p is p0 else p for p in base],
        "five candidates": [replace(p0, candidates=(p0.expected, "a", "b", "c", "d")) if p is p0 else p for p in base],
        "no blank in the prompt": [replace(p0, prompt="he works") if p is p0 else p for p in base],
        "an unknown tense": [replace(p0, tense="pluperfect") if p is p0 else p for p in base],
        "no future-tense probes": [p for p in base if p.tense != "future"],
    }
    val_h = P.sentence_hashes(["he works now"])
    for what, probes in cases.items():
        for coverage in (True, False):
            out += compare("validate_probes", f"{what}, check_coverage={coverage}",
                           learner.validate_probes(probes, train_h, val_h, coverage),
                           reference.validate_probes(probes, train_h, val_h, coverage))
    return out
