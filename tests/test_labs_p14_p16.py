"""Every ready phase 14-16 lab in quick mode passes its hard checks; every break meets its expectations
and the healthy lab does not show the symptom.

The phase YAML is read directly (config < quick overrides), entries are called with a
MemoryRecorder, and checks are evaluated with the runner's own `compare`.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.core.run import MemoryRecorder, to_json
from workbench.runner.checks import compare, lookup

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["phase-14-pre-transformer-sequence", "phase-15-attention", "phase-16-positional-encodings"]
# a timing lab only needs to run here: its checks are soft, and the shortest sweep keeps the suite fast
TEST_OVERRIDES = {("phase-15-attention", "lab-03"): {"T_sweep": [64], "min_ms_per_measurement": 2}}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "phases" / f"{name}.yaml").read_text(encoding="utf-8"))


_CACHE: dict[tuple[str, str, str | None], tuple[dict[str, Any], MemoryRecorder]] = {}


def _run(phase: str, lab: dict[str, Any], fault: str | None, fresh: bool = False) -> tuple[dict[str, Any], MemoryRecorder]:
    """Run a lab entry in quick mode; runs are shared between tests unless `fresh` (the suite's time budget)."""
    key = (phase, lab["id"], fault)
    if key in _CACHE and not fresh:
        return _CACHE[key]
    module, fn = lab["entry"].split(":")
    cfg = {"seed": 42, **lab.get("config", {}), **lab.get("quick", {}), **TEST_OVERRIDES.get((phase, lab["id"]), {}),
           "fault": fault, "quick": True, "device": "cpu"}
    rec = MemoryRecorder()
    _CACHE[key] = (getattr(importlib.import_module(module), fn)(cfg, rec), rec)
    return _CACHE[key]


def _holds(check: dict[str, Any], result: dict[str, Any], rec: MemoryRecorder) -> tuple[bool, Any]:
    actual = lookup(check["metric"], to_json(result), rec.records)
    return compare(actual, check["op"], check["value"], check.get("tol")), actual


CASES = [(p, lab["id"]) for p in PHASES for lab in _load(p)["labs"] if lab.get("status") == "ready"]
BREAKS = [(p, br["id"]) for p in PHASES for br in _load(p).get("breaks", [])]


def test_every_lab_of_these_phases_is_ready() -> None:
    assert len(CASES) == 12


@pytest.mark.parametrize(("phase", "lab_id"), CASES)
def test_lab_quick_mode_passes_hard_checks(phase: str, lab_id: str) -> None:
    lab = next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)
    result, rec = _run(phase, lab, None)
    json.dumps(to_json(result))  # results.json must serialise
    for check in lab.get("checks", []):
        ok, actual = _holds(check, result, rec)
        if check.get("hard", True):
            assert ok, f"{phase}/{lab_id}: {check} got {actual!r}"
        else:
            assert actual is not None, f"{phase}/{lab_id}: soft metric {check['metric']} missing"
    for chart in lab.get("charts", []):
        where = chart.get("where", {})
        rows = [r for r in rec.records if all(r.get(k) == v for k, v in where.items())]
        assert any(chart["x"] in r and any(y in r for y in chart["y"]) for r in rows), f"{phase}/{lab_id}: chart {chart['title']} has no data"


@pytest.mark.parametrize(("phase", "break_id"), BREAKS)
def test_break_is_detected_and_healthy_lab_is_clean(phase: str, break_id: str) -> None:
    content = _load(phase)
    br = next(b for b in content["breaks"] if b["id"] == break_id)
    lab = next(lab for lab in content["labs"] if lab["id"] == br["lab"])
    broken, rec_b = _run(phase, lab, br["fault"])
    healthy, rec_h = _run(phase, lab, None)
    for check in br["expect"]:
        ok, actual = _holds(check, broken, rec_b)
        assert ok, f"{phase}/{break_id}: {check} got {actual!r}"
        ok_h, actual_h = _holds(check, healthy, rec_h)
        assert not ok_h, f"{phase}/{break_id}: the healthy lab shows the symptom {check} ({actual_h!r})"


@pytest.mark.parametrize(("phase", "lab_id"), [("phase-14-pre-transformer-sequence", "lab-01"),
                                                ("phase-15-attention", "lab-00"),
                                                ("phase-16-positional-encodings", "lab-02")])
def test_results_are_deterministic(phase: str, lab_id: str) -> None:
    lab = next(lab for lab in _load(phase)["labs"] if lab["id"] == lab_id)
    a, _ = _run(phase, lab, None, fresh=True)
    b, _ = _run(phase, lab, None, fresh=True)
    assert json.dumps(to_json(a), sort_keys=True) == json.dumps(to_json(b), sort_keys=True)


def test_heatmap_artifacts_are_written() -> None:
    lab = next(lab for lab in _load("phase-15-attention")["labs"] if lab["id"] == "lab-01")
    _, rec = _run("phase-15-attention", lab, None, fresh=True)
    paths = [Path(a["path"]) for a in rec.artifacts]
    assert any(p.name == "heatmap.png" and p.stat().st_size > 1000 for p in paths)
