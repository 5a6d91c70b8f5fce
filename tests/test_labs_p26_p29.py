"""Phases 26, 28 and 29: each ready lab's quick mode passes its hard checks; each break is detected.

Same harness as the phase 07-10 lab tests: the YAML is read directly (config < quick), entries
get a MemoryRecorder, checks use the result dict first and then the last logged value.
Labs that take more than a few seconds even in quick mode are marked slow (see SLOW).
The healthy run of a break's lab must not show the break's symptom.
"""

from __future__ import annotations

import importlib
import math
import operator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.run import MemoryRecorder

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["phase-26-quantization", "phase-28-lora-qlora", "phase-29-rag"]
SLOW = {("phase-26-quantization", "lab-02"), ("phase-26-quantization", "lab-01"),
        ("phase-28-lora-qlora", "lab-02"), ("phase-28-lora-qlora", "lab-03")}
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "phases" / f"{name}.yaml").read_text(encoding="utf-8"))


@cache
def _run_cached(phase: str, lab_id: str, fault: str | None) -> tuple[dict[str, Any], MemoryRecorder]:
    lab = next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)
    module, fn = lab["entry"].split(":")
    cfg = {"seed": 42, "fault": fault, "quick": True, "device": "cpu", **lab.get("config", {}), **lab.get("quick", {})}
    rec = MemoryRecorder()
    return getattr(importlib.import_module(module), fn)(cfg, rec), rec


def _value(metric: str, result: dict[str, Any], rec: MemoryRecorder) -> Any:
    if metric in result:
        return result[metric]
    logged = [r[metric] for r in rec.records if metric in r]
    assert logged, f"metric {metric} neither returned nor logged"
    return logged[-1]


def _passes(check: dict[str, Any], actual: Any) -> bool:
    expected = check["value"]
    if check.get("tol") is not None and check["op"] in ("==", "!="):
        close = math.isclose(float(actual), float(expected), abs_tol=float(check["tol"]))
        return close if check["op"] == "==" else not close
    return bool(OPS[check["op"]](actual, expected))


def _mark(phase: str, lab_id: str) -> Any:
    return pytest.param(phase, lab_id, marks=pytest.mark.slow) if (phase, lab_id) in SLOW else (phase, lab_id)


READY = [(p, lab["id"]) for p in PHASES for lab in _load(p)["labs"] if lab.get("status") == "ready"]
CASES = [_mark(p, lab_id) for p, lab_id in READY]
BREAKS = [_mark(p, br["id"]) for p in PHASES for br in _load(p).get("breaks", [])
          if (p, br["lab"]) in READY and (p, br["lab"]) not in SLOW]
SLOW_BREAKS = [pytest.param(p, br["id"], marks=pytest.mark.slow) for p in PHASES for br in _load(p).get("breaks", [])
               if (p, br["lab"]) in SLOW and (p, br["lab"]) in READY]


@pytest.mark.parametrize(("phase", "lab_id"), CASES)
def test_lab_quick_mode_passes_hard_checks(phase: str, lab_id: str) -> None:
    lab = next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)
    result, rec = _run_cached(phase, lab_id, None)
    for check in lab.get("checks", []):
        if check.get("hard", True):
            actual = _value(check["metric"], result, rec)
            assert _passes(check, actual), f"{phase}/{lab_id}: {check} got {actual!r}"


@pytest.mark.parametrize(("phase", "break_id"), BREAKS + SLOW_BREAKS)
def test_break_is_detected_and_absent_when_healthy(phase: str, break_id: str) -> None:
    br = next(b for b in _load(phase)["breaks"] if b["id"] == break_id)
    broken, rec = _run_cached(phase, br["lab"], br["fault"])
    for check in br["expect"]:
        actual = _value(check["metric"], broken, rec)
        assert _passes(check, actual), f"{phase}/{break_id}: {check} got {actual!r}"
    healthy, hrec = _run_cached(phase, br["lab"], None)
    assert not all(_passes(c, _value(c["metric"], healthy, hrec)) for c in br["expect"]), \
        f"{phase}/{break_id}: the healthy lab already shows the symptom"
