"""Every phase 07-10 lab in quick mode passes its hard checks; every break meets its expectations.

The phase YAML is read directly (config < quick overrides), entries are called with a
MemoryRecorder, and checks are evaluated the way the runner does: the result dict first,
then the last logged value of the metric.
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

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["phase-07-scalar-autograd", "phase-08-tensor-autograd", "phase-09-mlp-modules", "phase-10-init-norm-residuals"]
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "phases" / f"{name}.yaml").read_text(encoding="utf-8"))


def _run(lab: dict[str, Any], fault: str | None) -> tuple[dict[str, Any], MemoryRecorder]:
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


CASES = [(p, lab["id"]) for p in PHASES for lab in _load(p)["labs"]]
BREAKS = [(p, br["id"]) for p in PHASES for br in _load(p).get("breaks", [])]


@pytest.mark.parametrize(("phase", "lab_id"), CASES)
def test_lab_quick_mode_passes_hard_checks(phase: str, lab_id: str) -> None:
    lab = next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)
    result, rec = _run(lab, None)
    for check in lab.get("checks", []):
        if check.get("hard", True):
            actual = _value(check["metric"], result, rec)
            assert _passes(check, actual), f"{phase}/{lab_id}: {check} got {actual!r}"


@pytest.mark.parametrize(("phase", "break_id"), BREAKS)
def test_break_is_detected(phase: str, break_id: str) -> None:
    content = _load(phase)
    br = next(b for b in content["breaks"] if b["id"] == break_id)
    lab = next(lab for lab in content["labs"] if lab["id"] == br["lab"])
    result, rec = _run(lab, br["fault"])
    for check in br["expect"]:
        actual = _value(check["metric"], result, rec)
        assert _passes(check, actual), f"{phase}/{break_id}: {check} got {actual!r}"


def test_phase07_full_mode_is_deterministic() -> None:
    lab = next(lab for lab in _load(PHASES[0])["labs"] if lab["id"] == "lab-02")
    cfg = {"seed": 42, "fault": None, "quick": False, **lab["config"]}
    from engine.labs.p07_scalar_autograd import train_tense_mlp

    a = train_tense_mlp(dict(cfg), MemoryRecorder())
    b = train_tense_mlp(dict(cfg), MemoryRecorder())
    assert a == b and a["final_loss"] < 0.5 and a["argmax_correct"] == 5
