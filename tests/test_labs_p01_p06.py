"""Every phase 01-06 lab in quick mode, called directly, against its own YAML checks; breaks too.

Labs are run in-process with a MemoryRecorder (the subprocess path is covered by the runner's
own tests). Deterministic labs must give identical results twice. Timing labs are checked on
their hard checks, which compare ratios measured in the same run with wide margins.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from typing import Any

import pytest

from engine.core.run import MemoryRecorder, to_json
from workbench.content import load_catalog
from workbench.runner.checks import evaluate

PHASES = [1, 2, 3, 4, 5, 6]
TIMING_LABS = {(1, "lab-00"), (1, "lab-01"), (1, "lab-02"), (1, "lab-03"), (3, "lab-01"), (6, "lab-01"), (6, "lab-03")}


@cache
def _phase(n: int) -> Any:
    return load_catalog().phase(n)


def _run(lab: Any, fault: str | None = None) -> tuple[dict[str, Any], MemoryRecorder]:
    module, fn = lab.entry.split(":")
    cfg = {**lab.config, **lab.quick, "seed": 42, "fault": fault, "quick": True, "device": "cpu"}
    rec = MemoryRecorder()
    return to_json(getattr(importlib.import_module(module), fn)(cfg, rec)), rec


CASES = [pytest.param(n, lab.id, id=f"{n}-{lab.id}", marks=[pytest.mark.timing] if (n, lab.id) in TIMING_LABS else [])
         for n in PHASES for lab in _phase(n).labs]


@pytest.mark.parametrize(("phase", "lab_id"), CASES)
def test_lab_quick_passes_its_hard_checks(phase: int, lab_id: str) -> None:
    lab = _phase(phase).lab(lab_id)
    result, rec = _run(lab)
    json.dumps(result)  # JSON-serialisable
    assert rec.records, "a lab logs what it measures"
    failed = [r for r in evaluate(lab.checks, result, rec.records) if r["hard"] and not r["passed"]]
    if failed and (phase, lab_id) in TIMING_LABS:
        # Timing under contention: the test machine is shared. One retry; a real fault fails twice.
        result, rec = _run(lab)
        failed = [r for r in evaluate(lab.checks, result, rec.records) if r["hard"] and not r["passed"]]
    assert not failed, failed
    if (phase, lab_id) not in TIMING_LABS:
        again, _ = _run(lab)
        assert json.dumps(again, sort_keys=True) == json.dumps(result, sort_keys=True), "results must be deterministic"


BREAKS = [pytest.param(n, b.id, id=f"{n}-{b.id}", marks=[pytest.mark.timing] if (n, b.lab) in TIMING_LABS else [])
          for n in PHASES for b in _phase(n).breaks]


@pytest.mark.parametrize(("phase", "break_id"), BREAKS)
def test_break_shows_its_symptom_and_healthy_does_not(phase: int, break_id: str) -> None:
    p = _phase(phase)
    brk = next(b for b in p.breaks if b.id == break_id)
    lab = p.lab(brk.lab)
    broken, rec_b = _run(lab, brk.fault)
    assert all(r["passed"] for r in evaluate(brk.expect, broken, rec_b.records)), evaluate(brk.expect, broken, rec_b.records)
    healthy, rec_h = _run(lab)
    assert not all(r["passed"] for r in evaluate(brk.expect, healthy, rec_h.records)), "the healthy lab must not show the symptom"


def test_every_lab_has_quick_mode_or_is_small() -> None:
    for n in PHASES:
        p = _phase(n)
        assert p.labs and all(lab.entry and lab.entry.startswith(f"engine.labs.p0{n}_") for lab in p.labs)
        assert p.breaks, f"phase {n} has a break"


@pytest.mark.slow
@pytest.mark.parametrize(("phase", "lab_id"), CASES)
def test_lab_full_mode_passes_its_hard_checks(phase: int, lab_id: str) -> None:
    lab = _phase(phase).lab(lab_id)
    module, fn = lab.entry.split(":")
    cfg = {**lab.config, "seed": 42, "fault": None, "quick": False, "device": "cpu"}
    rec = MemoryRecorder()
    result = to_json(getattr(importlib.import_module(module), fn)(cfg, rec))
    failed = [r for r in evaluate(lab.checks, result, rec.records) if r["hard"] and not r["passed"]]
    assert not failed, failed
