"""Turning the prompt-injection filter off must fail loudly. On the app: the same attack set is
answered 400 injection_blocked with the filter on and 200 with it off (no other change). On the
capstone: phase 39's break-01 replays the demo's threats against a server without the filter,
and the lab's hard injection check fails (detected) while the healthy lab passes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from engine.apps.security.payloads import DIRECT
from engine.systems.observability.otel import tracer_provider
from engine.systems.serve.api import ROUTE, ServeConfig, Service, create_app
from engine.systems.serve.lm import TutorLM
from workbench.runner.call import call_lab, judge

ATTACKS = [text for _, text, expected in DIRECT if expected == "reject"]


def _statuses(tmp_path, injection_filter: bool) -> list[tuple[int, str | None]]:
    svc = Service(TutorLM.build(seed=7, max_new_tokens=2), ServeConfig(policy="continuous",
                  injection_filter=injection_filter), tracer_provider(tmp_path / f"s{injection_filter}.jsonl", "t"))
    try:
        client = TestClient(create_app(svc))
        out = []
        for text in ATTACKS:
            r = client.post(ROUTE, json={"sentence": text[:500]})
            out.append((r.status_code, r.json().get("error")))
        return out
    finally:
        svc.close()


def test_the_attack_set_is_blocked_with_the_filter_and_answered_without(tmp_path) -> None:
    assert len(ATTACKS) >= 5
    assert _statuses(tmp_path, True) == [(400, "injection_blocked")] * len(ATTACKS)
    assert [s for s, _ in _statuses(tmp_path, False)] == [200] * len(ATTACKS)


@pytest.mark.slow
def test_capstone_break_filter_off_is_detected_and_the_healthy_replay_passes() -> None:
    broken = call_lab("phase-39/break-01")
    assert broken.status == "detected", broken.checks
    assert broken.result["injection_status"] == 200 and "DE-008" in broken.result["demo_failed_rows"]
    healthy = call_lab("phase-39/lab-03")
    assert healthy.status == "passed" and healthy.result["injection_status"] == 400
    # the broken run judged by the healthy lab's own checks: its hard injection check fails
    checks, status = judge(healthy.request, broken.result, broken.records)
    assert status == "failed"
    assert [c["metric"] for c in checks if c["hard"] and not c["passed"]] == ["injection_status", "threats_verified"]
