"""Unit tests for engine.lm.eval: metrics with the course's exact values, probes, and the harness on fixtures."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from engine.lm.eval import harness as H
from engine.lm.eval import metrics as M
from engine.lm.eval import probes as P
from engine.lm.eval.report import significant
from engine.lm.train.data import CharTokenizer, held_out_split, load_corpus


def test_wilson() -> None:
    lo, hi = M.wilson_interval(48, 60)
    assert lo == pytest.approx(0.6822, abs=1e-4) and hi == pytest.approx(0.8818, abs=1e-4)
    assert M.wilson_interval(0, 0) == (0.0, 0.0)
    for c, n in ((0, 10), (10, 10)):
        lo, hi = M.wilson_interval(c, n)
        assert 0.0 <= lo <= c / n <= hi <= 1.0


def test_ece_and_brier_exact_cases() -> None:
    assert M.ece(np.full(100, 0.7), np.r_[np.ones(70), np.zeros(30)]) < 1e-9
    assert M.ece(np.full(100, 0.95), np.r_[np.ones(50), np.zeros(50)]) == pytest.approx(0.45, abs=1e-12)
    assert M.reliability_bins(np.array([1.0, 0.0]), np.array([1, 0]))[-1]["count"] == 1
    # course worked example shape: three occupied bins contribute |acc - conf| * weight each
    conf = np.r_[np.full(5, 0.15), np.full(5, 0.55), np.full(10, 0.95)]
    ok = np.r_[np.zeros(5), np.r_[np.ones(3), np.zeros(2)], np.r_[np.ones(9), np.zeros(1)]]
    want = 5 / 20 * 0.15 + 5 / 20 * abs(0.6 - 0.55) + 10 / 20 * abs(0.9 - 0.95)
    assert M.ece(conf, ok) == pytest.approx(want)
    assert M.brier(np.ones(4), np.ones(4)) == 0.0
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    want = (((0.3 ** 2 + 0.2 ** 2 + 0.1 ** 2) + (0.1 ** 2 + 0.1 ** 2 + 0.2 ** 2)) / 3) / 2
    assert M.brier_multiclass(probs, np.array([0, 2])) == pytest.approx(want)


def test_pass_at_k_matches_enumeration() -> None:
    for n, c, k in ((5, 2, 2), (6, 1, 3), (4, 0, 2), (4, 3, 2)):
        samples = [1] * c + [0] * (n - c)
        subsets = list(itertools.combinations(range(n), k))
        brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
        assert M.pass_at_k(n, c, k) == pytest.approx(brute)


def test_significance_rule() -> None:
    assert significant(48, 60, 49, 60) == "within noise"
    assert significant(96, 120, 72, 120) == "▼"
    assert significant(48, 60, 36, 60) == "within noise"  # -20 points at N=60: the intervals overlap


def _corpus_hashes() -> tuple[set[str], set[str]]:
    tr, va = held_out_split(load_corpus())
    return P.sentence_hashes([e.text for e in tr]), P.sentence_hashes([e.text for e in va])


def test_probe_generation_validation_and_roundtrip(tmp_path) -> None:
    core, adv = P.generate(42)
    th, vh = _corpus_hashes()
    assert len(core) == 60 and len(adv) >= 20
    assert P.validate_probes(core + adv, th, vh) == []
    sha = P.write_jsonl(core, tmp_path / "p.jsonl")
    assert sha == P.write_jsonl(P.generate(42)[0], tmp_path / "q.jsonl")
    assert sorted(P.load_probes(tmp_path / "p.jsonl"), key=lambda p: p.id) == sorted(core, key=lambda p: p.id)
    go = next(p for p in core if p.verb == "go")
    assert any("does not match" in e for e in P.validate_probes([replace(go, regularity="regular")], th, vh, False))
    eat = next(p for p in core if p.verb == "eat")
    bad = replace(eat, candidates=("eat", "eats", "eaten"), expected="ate")
    assert any("not among candidates" in e for e in P.validate_probes([bad], th, vh, False))
    leak = replace(core[0], prompt="now he ___", expected="works", candidates=("works", "work"))
    assert any("leaks" in e for e in P.validate_probes([leak], th, vh, False))
    text = "  So NOW he ___ "
    once = P.normalize_prompt(text, "works")
    assert once == "so now he works" and P.normalize_prompt(once, "") == once


class _Fixture:
    """A causal 'model' that puts logit 5 on one preferred next character after each context char."""

    def __init__(self, tok: CharTokenizer, prefer: dict[str, str]) -> None:
        self.v = tok.vocab_size
        self.table = np.zeros((self.v, self.v))
        for a, b in prefer.items():
            self.table[tok.stoi[a], tok.stoi[b]] = 5.0

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return self.table[np.asarray(ids)]


def test_score_candidate_offsets_and_length_normalisation() -> None:
    tok = CharTokenizer()
    # after "e" (end of "she ") prefer "w"... a bigram chain spelling "works" after a space
    fx = _Fixture(tok, {" ": "w", "w": "o", "o": "r", "r": "k", "k": "s", "s": "<eos>"})
    r = H.classify(fx, tok, "she ", ["work", "works", "worked"])
    assert r["prediction"] == "works"
    # candidate tokens alone (the course's rule): "work" ties with "works", the first wins
    alone = H.score_candidates(fx, tok, [("she ", ["work", "works"])], suffix=None)[0]
    assert alone[0] == pytest.approx(alone[1])
    # off-by-one: the first candidate token is scored by the prefix's last row
    s_first = H.score_candidate(fx, tok, "she ", "w", suffix=None)
    assert s_first == pytest.approx(5 - math.log(math.exp(5) + tok.vocab_size - 1))
    # length normalisation: a long candidate of all-preferred tokens scores like a short one
    assert H.score_candidate(fx, tok, "she ", "wo", suffix=None) == pytest.approx(s_first)
    assert H.classify(fx, tok, "she ", ["works", "trabajé"])["model_oov"] is True


def test_ppl_and_slices() -> None:
    tok = CharTokenizer()
    uniform = lambda ids: np.zeros((*np.asarray(ids).shape, tok.vocab_size))  # noqa: E731
    assert H.compute_ppl(uniform, tok, ["now he works", "to go"]) == pytest.approx(tok.vocab_size)
    preds = [{"model_oov": False, "correct": c, "tense": t} for c, t in ((True, "past"), (False, "past"), (True, "future"))]
    rows = H.slice_table(preds, ("tense",))
    assert [r["slice_value"] for r in rows] == ["past", "future"] and rows[0]["accuracy"] == 0.5
