"""Phase 34 extras: lab-03 is deterministic apart from its soft timing, and the break drops every request id."""

from __future__ import annotations

from tests import labkit


def test_cost_lab_results_are_deterministic_except_timings() -> None:
    timing = {"rps_peak", "load_ok_rate"}
    a, _ = labkit.run_fresh("phase-34/lab-03")
    b, _ = labkit.outcome("phase-34/lab-03")
    assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}


def test_break_loses_correlation_in_interleaved_logs() -> None:
    healthy, _ = labkit.outcome("phase-34/lab-02")
    broken, _ = labkit.outcome("phase-34/break-00")
    assert healthy["log_lines_with_request_id"] == healthy["log_lines"] > 0
    assert broken["logs_share_trace_id"] is False
