"""The pieces moved out of lab entries (issue 19, "lab entries become glue"), tested where they now live.

Each test runs in well under a second on toy inputs: the labs' quick runs check the same code at
full size; these pin the contracts a caller relies on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.lm.text import token_stats as TS
from engine.lm.text.bpe import BPETokenizer
from engine.lm.text.bpe_checks import files_identical, out_of_range_errors, replay_mismatches, roundtrip_failures
from engine.scratch.autograd.gradcheck import eps_sweep, rejects_wrong_gradient
from engine.scratch.autograd.op_table import matmul_formula_err, op_error, op_table
from engine.scratch.autograd.scalar import Value
from engine.scratch.autograd.tensor import Tensor, cross_entropy
from engine.scratch.linalg.matmul import correctness_gates
from engine.scratch.optim.plain import descend
from engine.systems.hardware.roofline import Roofline, closed_form_error
from engine.systems.mlops import drift, rollout
from engine.systems.mlops.variants import standard_variants
from engine.systems.observability.prom import quantile_by_bisection

TEXTS = ["he works", "he worked", "I work", "yo trabajo", "he is working"] * 4


def test_token_stats_on_a_toy_vocabulary() -> None:
    tok = BPETokenizer.train(TEXTS, 256 + 12)
    ranking = TS.ranked(TS.id_frequencies(tok, TEXTS))
    assert [c for _, c in ranking] == sorted((c for _, c in ranking), reverse=True)
    assert all(i >= 256 for i, _ in TS.top_merges(tok, ranking, 5))
    assert TS.zipf_slope([(0, 100), (1, 50), (2, 25), (3, 12)]) < 0
    assert TS.morphology("ed", False) == "suffix" and TS.morphology("x", True) == "spanish-specific"
    prof = TS.corpus_profile(["ab", "ñ"])
    assert prof["corpus_bytes"] == len("ab\nñ".encode()) and prof["corpus_lines"] == 2


def test_bpe_contract_checks_pass_on_a_healthy_tokenizer(tmp_path) -> None:
    tok = BPETokenizer.train(TEXTS, 256 + 10)
    assert roundtrip_failures(tok, ["", "mañana", "🦊", *TEXTS]) == 0
    tok.save(tmp_path / "a")
    BPETokenizer.train(TEXTS, 256 + 10).save(tmp_path / "b")
    assert files_identical(tmp_path / "a", tmp_path / "b")
    assert out_of_range_errors(tok) == (True, True)
    assert replay_mismatches(tok, TEXTS) == 0


def test_op_table_agrees_with_gradcheck_without_torch() -> None:
    rng = np.random.default_rng(0)
    ops = op_table(None)
    for step, name in enumerate(("add (3,)+(4,3)", "tanh", "matmul 2Dx2D")):
        f, tf, shapes = ops[name]
        err, shapes_ok = op_error(f, tf, [rng.uniform(-2, 2, size=s) for s in shapes], step, None)
        assert shapes_ok and err == 0.0
    assert matmul_formula_err(rng) < 1e-6


def test_eps_sweep_is_u_shaped_and_a_wrong_gradient_is_rejected() -> None:
    def f(a: Value, b: Value) -> Value:
        return (a * b).tanh()

    exact = 1.3 * (1 - math.tanh(0.7 * 1.3) ** 2)
    errs = [e for _, e in eps_sweep(f, (0.7, 1.3), exact)]
    best = int(np.argmin(errs))
    assert 0 < best < len(errs) - 1 and errs[best] < 1e-8
    assert rejects_wrong_gradient(1e-6, 1e-6, 1e-4)


def test_descend_trains_raw_tensors_and_scalar_values() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), (rng.normal(size=20) > 0).astype(int)
    w = Tensor(np.zeros((3, 2)), requires_grad=True)
    losses: list[float] = []
    descend([w], lambda: cross_entropy(Tensor(x) @ w, y), 0.5, 30, after=lambda e, loss: losses.append(loss.item()))
    assert losses[-1] < losses[0]
    v = Value(3.0)
    last = descend([v], lambda: v * v, 0.25, 10, reset=0.0)
    assert last is not None and abs(v.data) < 0.01
    assert descend([v], lambda: v * v, 0.1, 0) is None


def test_matmul_gates_catch_a_swapped_contraction() -> None:
    healthy = correctness_gates("ik,kj->ij", np.random.default_rng(0))
    broken = correctness_gates("ki,kj->ij", np.random.default_rng(0))
    assert healthy["known_answer_ok"] and healthy["agree_naive"] and healthy["square_max_diff"] < 1e-4
    assert not broken["known_answer_ok"] and not broken["nonsquare_ok"]


def test_roofline_closed_form_error_is_zero() -> None:
    assert closed_form_error(Roofline(100.0, 20.0)) < 1e-12


def test_drift_scores_match_scipy() -> None:
    rng = np.random.default_rng(0)
    vocab = 300
    p, r = drift.zipf(vocab), drift.ood(vocab)
    train = np.bincount(rng.choice(vocab, 5000, p=p), minlength=vocab).astype(np.float64)
    today = np.bincount(drift.mixture_sample(rng, p, r, 0.3, 2000), minlength=vocab).astype(np.float64)
    bucket, cell = drift.token_buckets(train), np.arange(vocab) % 15
    scores = drift.drift_scores(train, today, bucket, cell, 0.5)
    kl_gap, psi_gap = drift.scipy_gaps(train, today, scores, bucket, cell, 0.5)
    assert kl_gap < 1e-9 and psi_gap < 1e-9 and scores["token_psi"] > 0


def test_rollout_log_is_seeded_sticky_and_isolates_the_crash() -> None:
    v = standard_variants(0)
    logs = []
    for _ in range(2):
        rng = np.random.default_rng(1)
        log, isolated = rollout.shadow_traffic(v["fp32"], v["lora"], 30, rng, crash_at=10)
        log += rollout.ab_traffic(v["fp32"], v["lora"], 60, rng, "salt")
        logs.append(log)
    assert logs[0] == logs[1] and isolated
    verdict = rollout.analyse(logs[0], "salt")
    assert verdict["sticky"] and verdict["salt_matters"]
    assert len(verdict["arms"]["A"]) + len(verdict["arms"]["B"]) == 60


def test_bucket_quantile_by_bisection_matches_linear_interpolation() -> None:
    bounds, cumulative = [1.0, 2.0, 4.0], [10.0, 30.0, 40.0, 40.0]
    # rank 20 of 40 lies halfway through the (1, 2] bucket
    assert quantile_by_bisection(0.5, bounds, cumulative) == pytest.approx(1.5, abs=1e-9)
