"""The roofline is one chart: every roofline chart in the content, and `workbench roofline`, use
engine.systems.hardware.roofline.chart_spec, and the labs log the rows chart_rows builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.core.run import MemoryRecorder
from engine.systems.hardware.roofline import LINES, Roofline, chart_rows, chart_spec
from workbench.charts.spec import series
from workbench.content.schema import Chart

ROOT = Path(__file__).resolve().parents[1]


def _roofline_charts() -> list[tuple[str, dict]]:
    found = []
    for path in sorted([*ROOT.glob("phases/*.yaml"), *ROOT.glob("experiments/*.yaml")]):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for lab in doc.get("labs") or []:
            for chart in lab.get("charts") or []:
                if chart.get("x") == "intensity":
                    found.append((f"{path.name}:{lab['id']}", chart))
    return found


# Roofline charts not yet on the spec (their labs log `op`/`label: op` rows): phase 15 is the model
# spine's, phase 26 the quantisation owner's. Remove an entry when its lab logs chart_rows.
PENDING = {"phase-15-attention.yaml:lab-03", "phase-26-quantization.yaml:lab-02"}


def test_every_roofline_chart_in_the_content_is_the_spec() -> None:
    charts = _roofline_charts()
    assert len(charts) >= 4  # phase 01 lab-03, phase 23 labs 03 and 04, phase 27's overlay
    for where, chart in charts:
        unit = chart.get("ylabel", "")
        want = {**chart_spec(chart["title"], unit), "where": {"stage": "roofline"}}
        if where in PENDING:
            assert chart != want, f"{where} is on the spec now: take it out of PENDING"
            continue
        assert chart == want, f"{where}: the roofline chart differs from engine.systems.hardware.roofline.chart_spec"


def test_rows_draw_lines_under_labelled_points() -> None:
    roof = Roofline(100.0, 10.0)
    rows = chart_rows([("roof", roof.curve(0.1, 100.0, 5))], [{"name": "matmul", "intensity": 50.0, "gflops": 80.0}])
    drawn = {s.name: s for s in series(Chart(**chart_spec("t")), rows)}
    assert drawn["roof"].kind == "line" and len(drawn["roof"].x) == 5
    assert drawn["ops"].kind == "scatter" and drawn["ops"].labels == ["matmul"]
    # the line is the roof at its own x (logspace's 10**-1 may come back one ulp under 0.1)
    assert drawn["roof"].x[0] == pytest.approx(0.1, rel=1e-12)
    assert drawn["roof"].y[-1] == 100.0 and drawn["roof"].y[0] == roof.attainable(drawn["roof"].x[0])
    assert "roof" in LINES and "ops" not in LINES


def test_cpu_substitute_logs_the_rows() -> None:
    from engine.labs import p27_modern_attention as p27

    rec = MemoryRecorder()
    cfg = yaml.safe_load((ROOT / "phases/phase-27-modern-attention.yaml").read_text())
    lab = next(lab for lab in cfg["labs"] if lab["entry"].endswith(":bytes_moved"))
    conf = {**lab["config"], **lab.get("quick", {}), "seed": 0, "fault": None, "quick": True, "device": "cpu"}
    p27.bytes_moved(conf, rec)
    rows = [r for r in rec.records if r.get("stage") == "roofline"]
    assert {r["series"] for r in rows} == {"roof", "ops"}
    assert all(set(r) >= {"series", "name", "intensity", "gflops"} for r in rows)
