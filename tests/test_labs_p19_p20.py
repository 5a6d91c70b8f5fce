"""Every ready phase 19-20 lab in quick mode passes its hard checks; every break meets its expectations
and the healthy lab does not show the break's symptom.

The phase YAML is read directly (config < quick overrides), entries are called with a
MemoryRecorder, and checks are evaluated the way the runner does: the result dict first,
then the last logged value of the metric.
"""

from __future__ import annotations

import importlib
import json
import math
import operator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.run import MemoryRecorder

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["phase-19-training-dynamics", "phase-20-evaluation-harness"]
SLOW = {("phase-19-training-dynamics", "lab-02")}  # four Mini-GPT trainings and four dashboards: ~30 s
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


@cache
def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "phases" / f"{name}.yaml").read_text(encoding="utf-8"))


def _lab(phase: str, lab_id: str) -> dict[str, Any]:
    return next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)


@cache
def _run_cached(phase: str, lab_id: str, fault: str | None) -> tuple[str, str]:
    result, rec = _run(_lab(phase, lab_id), fault)
    return json.dumps(result), json.dumps(rec.records)


def _run(lab: dict[str, Any], fault: str | None) -> tuple[dict[str, Any], MemoryRecorder]:
    module, fn = lab["entry"].split(":")
    cfg = {"seed": 42, "fault": fault, "quick": True, "device": "cpu", **lab.get("config", {}), **lab.get("quick", {})}
    rec = MemoryRecorder()
    return getattr(importlib.import_module(module), fn)(cfg, rec), rec


def _value(metric: str, result: dict[str, Any], records: list[dict[str, Any]]) -> Any:
    if metric in result:
        return result[metric]
    logged = [r[metric] for r in records if metric in r]
    assert logged, f"metric {metric} neither returned nor logged"
    return logged[-1]


def _passes(check: dict[str, Any], actual: Any) -> bool:
    expected = check["value"]
    if check.get("tol") is not None and check["op"] in ("==", "!="):
        close = math.isclose(float(actual), float(expected), abs_tol=float(check["tol"]))
        return close if check["op"] == "==" else not close
    return bool(OPS[check["op"]](actual, expected))


def _outcome(phase: str, lab_id: str, fault: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result, records = _run_cached(phase, lab_id, fault)
    return json.loads(result), json.loads(records)


CASES = [pytest.param(p, lab["id"], marks=[pytest.mark.slow] if (p, lab["id"]) in SLOW else [])
         for p in PHASES for lab in _load(p)["labs"] if lab.get("status") == "ready"]
BREAKS = [(p, br["id"]) for p in PHASES for br in _load(p).get("breaks", [])
          if _lab(p, br["lab"]).get("status") == "ready"]


@pytest.mark.parametrize(("phase", "lab_id"), CASES)
def test_lab_quick_mode_passes_hard_checks(phase: str, lab_id: str) -> None:
    result, records = _outcome(phase, lab_id, None)
    for check in _lab(phase, lab_id).get("checks", []):
        if check.get("hard", True):
            actual = _value(check["metric"], result, records)
            assert _passes(check, actual), f"{phase}/{lab_id}: {check} got {actual!r}"


@pytest.mark.parametrize(("phase", "break_id"), BREAKS)
def test_break_is_detected_and_healthy_run_is_clean(phase: str, break_id: str) -> None:
    br = next(b for b in _load(phase)["breaks"] if b["id"] == break_id)
    broken, broken_records = _outcome(phase, br["lab"], br["fault"])
    healthy, healthy_records = _outcome(phase, br["lab"], None)
    for check in br["expect"]:
        actual = _value(check["metric"], broken, broken_records)
        assert _passes(check, actual), f"{phase}/{break_id}: {check} got {actual!r}"
    assert not all(_passes(c, _value(c["metric"], healthy, healthy_records)) for c in br["expect"]), \
        f"{phase}/{break_id}: the healthy lab already shows the break's symptom"


def test_phase19_training_is_deterministic() -> None:
    from engine.dynamics.loop import train

    a, _ = train({"seed": 3, "steps": 30, "injection": "scale", "injection_step": 10})
    b, _ = train({"seed": 3, "steps": 30, "injection": "scale", "injection_step": 10})
    assert a.train_loss == b.train_loss and a.pre == b.pre and a.stats == b.stats


def test_phase20_refuses_unknown_split() -> None:
    from engine.eval.evaluate import run_eval

    with pytest.raises(ValueError, match="eval_split"):
        run_eval(lambda ids: None, None, [], [], "x", "0", eval_split="test")
