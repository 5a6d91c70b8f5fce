"""workbench roofline: cache in the workspace, re-measure on demand, one chart spec for CLI and TUI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import engine.systems.hardware.roofline as R
from workbench import roofline as W


def _fake(quick: bool = False, with_gpu: bool = True) -> dict[str, Any]:
    roof = R.Roofline(100.0, 20.0)
    ks = [R.OpPoint(f"op{i}", 1e6 * 10**i, 1e6, 1e-3) for i in range(5)]
    return {"profile": {"cpu_model": "fake"}, "bandwidth": {"dram_gbs": 20.0, "derived_gbs": 38.4, "llc_gbs": 50.0, "rows": []},
            "peak": {"gflops": 100.0, "derived_gflops": 80.0, "at_n": 1024, "rows": []}, "ridge": roof.ridge,
            "kernels": [dict(k.as_dict(), bound=roof.bound(k.intensity), attainable=roof.attainable(k.intensity)) for k in ks],
            "gpu": None}


def test_measure_or_load_caches_and_remeasures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(R, "measure_machine", lambda quick=False, with_gpu=True: calls.append(quick) or _fake())
    first = W.measure_or_load(tmp_path)
    assert not first["cached"] and (tmp_path / W.CACHE).exists()
    second = W.measure_or_load(tmp_path)
    assert second["cached"] and len(calls) == 1 and second["kernels"] == first["kernels"]
    third = W.measure_or_load(tmp_path, remeasure=True, quick=True)
    assert not third["cached"] and calls == [False, True]
    (tmp_path / W.CACHE).write_text("{not json")
    assert not W.measure_or_load(tmp_path)["cached"]


def test_chart_spec_and_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(R, "measure_machine", lambda quick=False, with_gpu=True: _fake())
    chart, records = W.chart_and_records(W.measure_or_load(tmp_path))
    assert chart.kind == "scatter" and chart.logx and chart.logy and chart.label == "name"
    ops = [r for r in records if r["series"] == "ops"]
    assert len(ops) >= 5 and any(r["series"] == "roof" for r in records)
    assert W.roofline_command(tmp_path, plot=False) == 0
    assert (tmp_path / "runs" / "roofline" / "roofline.png").stat().st_size > 1000


def test_dram_roof_reads_the_streaming_kernels_op_points() -> None:
    """A measured cache stores kernels as OpPoint dicts (`bytes_moved`), and the roof takes the best."""
    from engine.systems.hardware.roofline import OpPoint
    from workbench.roofline import dram_roof

    copy = OpPoint("copy 64 MiB", flops=1.0, bytes_moved=2e9, seconds=0.05, source="phase-01").as_dict()
    data = {"bandwidth": {"dram_gbs": 30.0}, "kernels": [copy]}
    assert dram_roof(data) == 40.0
