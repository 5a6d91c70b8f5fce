"""engine.systems.serve: request validation and health rules, the batching simulator's arithmetic, and the
continuous decode loop against one-at-a-time generation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.lm.infer.kv_cache import KVCache
from engine.lm.infer.sampling import Greedy, generate
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.systems.serve.app import TutorApp
from engine.systems.serve.batching import CostModel, simulate, workload
from engine.systems.serve.decode import continuous_decode
from engine.systems.serve.tutor import Tutor


def _body(**kw: object) -> bytes:
    return json.dumps(kw).encode()


def test_app_validation_and_readiness() -> None:
    tutor = Tutor(service_ms=0)
    app = TutorApp(tutor)
    assert app.readyz()[0] == 503 and app.healthz()[0] == 200
    assert app.correct(_body(sentence="now he works"))[0] == 503
    tutor.load()
    assert app.readyz()[0] == 200
    assert app.correct(_body(sentence=""))[0] == 422
    assert app.correct(_body(sentence="a" * 501))[0] == 422
    assert app.correct(_body(sentence="ok", learner_id=3))[0] == 422
    assert app.correct(b"[1]")[0] == 422
    status, body = app.correct(_body(sentence="now he work"))
    assert status == 200 and body["corrected"] == "now he works" and body["was_correct"] is False
    assert app.correct(_body(sentence="now he works"))[1]["was_correct"] is True
    tutor.fail_next = True
    assert app.correct(_body(sentence="now he works"))[0] == 500


def test_single_request_costs_match_the_formula() -> None:
    cost = CostModel(step_ms=5.0, per_seq_ms=1.0, prefill_ms=2.0)
    for policy in ("none", "static", "continuous"):
        r = simulate(policy, [4], 1, cost, max_batch=1, max_wait_ms=0).requests[0]
        assert r.done - r.arrival == pytest.approx(2.0 + 4 * 6.0)


def test_static_batch_waits_for_its_longest_member() -> None:
    cost = CostModel(step_ms=5.0, per_seq_ms=0.0, prefill_ms=0.0)
    out = simulate("static", [1, 9], 2, cost, max_batch=2, max_wait_ms=0)
    assert [r.done for r in out.requests] == [45.0, 45.0]
    cont = simulate("continuous", [1, 9], 2, cost, max_inflight=2)
    assert [r.done for r in cont.requests] == [5.0, 45.0]


def test_bounded_queue_rejects_and_every_request_is_answered() -> None:
    lengths = workload(300, 0)
    out = simulate("continuous", lengths, 100, CostModel(), max_inflight=4, max_queue=10)
    assert len(out.requests) == 300 and {r.status for r in out.requests} <= {200, 503}
    assert out.summary()["n_503"] > 0


def test_workload_mix() -> None:
    lengths = np.array(workload(5000, 1))
    assert lengths.min() >= 1 and lengths.max() <= 10
    assert 0.05 < (lengths >= 6).mean() < 0.15


def test_continuous_decode_equals_one_at_a_time() -> None:
    model = MiniGPT(MiniGPTConfig(context_len=32), rng=np.random.default_rng(3))
    rng = np.random.default_rng(4)
    prompts = [[int(t) for t in rng.integers(3, 30, size=int(rng.integers(2, 10)))] for _ in range(6)]
    lengths = [int(n) for n in rng.integers(1, 8, size=6)]
    ref = [generate(model, p, n, 0, Greedy(), cache=KVCache.allocate(layers=2, heads=4, head_dim=16, max_seq=32))
           for p, n in zip(prompts, lengths, strict=True)]
    out, iters = continuous_decode(model, prompts, lengths, max_inflight=3)
    assert out == ref and iters < sum(lengths)
