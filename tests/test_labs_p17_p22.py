"""Phase 17, 18, 21 and 22 labs: quick mode passes every hard check, every break meets its
expectations, and the healthy lab does not show the break's symptom.

The phase YAML is read directly (config deep-merged with the quick overrides, as the runner
does), entries are called with a MemoryRecorder, and checks are evaluated the way the runner
does: the result dict first, then the last logged value of the metric. Labs that need the
trained Mini-GPT share one cached quick checkpoint (engine.labs._minigpt_ckpt).
"""

from __future__ import annotations

import importlib
import math
import operator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.run import MemoryRecorder
from workbench.runner.plan import merge

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["phase-17-mini-gpt", "phase-18-training-loop", "phase-21-inference-sampling", "phase-22-kv-cache"]
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "phases" / f"{name}.yaml").read_text(encoding="utf-8"))


def _run(lab: dict[str, Any], fault: str | None) -> tuple[dict[str, Any], MemoryRecorder]:
    module, fn = lab["entry"].split(":")
    cfg = merge({"seed": 42, "fault": fault, "quick": True, "device": "cpu", **lab.get("config", {})}, lab.get("quick") or {})
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


def _ready(phase: str) -> list[dict[str, Any]]:
    return [lab for lab in _load(phase)["labs"] if lab.get("status") == "ready"]


CASES = [(p, lab["id"]) for p in PHASES for lab in _ready(p)]
SLOW = {("phase-18-training-loop", "break-00"), ("phase-21-inference-sampling", "break-00")}  # retrain / resample
BREAKS = [pytest.param(p, br["id"], marks=[pytest.mark.slow] if (p, br["id"]) in SLOW else [])
          for p in PHASES for br in _load(p).get("breaks", []) if any(lab["id"] == br["lab"] for lab in _ready(p))]
_CACHE: dict[tuple[str, str, str | None], tuple[dict[str, Any], MemoryRecorder]] = {}


def _cached(phase: str, lab_id: str, fault: str | None) -> tuple[dict[str, Any], MemoryRecorder]:
    key = (phase, lab_id, fault)
    if key not in _CACHE:
        lab = next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)
        _CACHE[key] = _run(lab, fault)
    return _CACHE[key]


@pytest.mark.parametrize(("phase", "lab_id"), CASES)
def test_lab_quick_mode_passes_hard_checks(phase: str, lab_id: str) -> None:
    lab = next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)
    result, rec = _cached(phase, lab_id, None)
    for check in lab.get("checks", []):
        if check.get("hard", True):
            actual = _value(check["metric"], result, rec)
            assert _passes(check, actual), f"{phase}/{lab_id}: {check} got {actual!r}"


@pytest.mark.parametrize(("phase", "break_id"), BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(phase: str, break_id: str) -> None:
    br = next(b for b in _load(phase)["breaks"] if b["id"] == break_id)
    result, rec = _cached(phase, br["lab"], br["fault"])
    healthy, hrec = _cached(phase, br["lab"], None)
    for check in br["expect"]:
        actual = _value(check["metric"], result, rec)
        assert _passes(check, actual), f"{phase}/{break_id}: {check} got {actual!r}"
        clean = _value(check["metric"], healthy, hrec)
        assert not _passes(check, clean), f"{phase}/{break_id}: the healthy lab also shows {check} ({clean!r})"
