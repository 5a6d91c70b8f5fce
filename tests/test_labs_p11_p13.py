"""Phase 11-13 extras beyond tests/test_labs.py: a fresh run reproduces the cached result."""

from __future__ import annotations

from tests import labkit


def test_phase11_results_are_deterministic() -> None:
    assert labkit.run_fresh("phase-11/lab-02")[0] == labkit.outcome("phase-11/lab-02")[0]
