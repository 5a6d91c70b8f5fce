"""Hardware probes: parsing, derived ceilings, roofline maths, op registry, small real measurements."""

from __future__ import annotations

import numpy as np
import pytest

from engine.systems.hardware import bandwidth, cache_walk, peak
from engine.systems.hardware import roofline as R
from engine.systems.hardware.profile import (
    derived_dram_gbs,
    derived_peak_gflops,
    machine_profile,
    parse_size,
    simd_fp32_lanes,
)
from engine.systems.hardware.timing import time_call


def test_parse_size_and_lanes() -> None:
    assert parse_size("32K") == 32 * 1024
    assert parse_size("32 MiB (1 instance)") == 32 * 1024**2
    assert parse_size(None) is None and parse_size("n/a") is None
    assert simd_fp32_lanes({"avx512f", "avx2"}) == 16
    assert simd_fp32_lanes({"avx2", "fma"}) == 8
    assert simd_fp32_lanes(set()) == 1


def test_profile_degrades_gracefully_and_derives() -> None:
    prof = machine_profile()
    for key in ("cpu_model", "physical_cores", "caches", "governor", "kernel", "fp32_lanes"):
        assert key in prof
    assert prof["physical_cores"] >= 1
    assert derived_dram_gbs(prof) == pytest.approx(38.4)  # the course's DDR4-2400 x2 assumption
    fake = {**prof, "clock_ghz": 1.6, "physical_cores": 4, "usable_cpus": 8, "fp32_lanes": 8, "fma": True}
    assert derived_peak_gflops(fake) == pytest.approx(1.6 * 4 * 8 * 2)  # the course's base-clock i5-8250U: 102.4
    assert derived_peak_gflops({**prof, "clock_ghz": None}) is None


def test_roofline_maths() -> None:
    roof = R.Roofline(peak_gflops=200.0, bandwidth_gbs=20.0)
    assert roof.ridge == pytest.approx(10.0)
    assert roof.attainable(0.25) == pytest.approx(5.0)
    assert roof.attainable(100.0) == 200.0
    assert roof.bound(0.25) == "memory" and roof.bound(50) == "compute"
    # the course's quiz: I = 0.25 at 25 GB/s and 100 GFLOP/s -> ridge 4, 6.25 GFLOP/s
    q = R.Roofline(100.0, 25.0)
    assert q.ridge == pytest.approx(4.0) and q.attainable(0.25) == pytest.approx(6.25)


def test_register_op_validates_and_appears() -> None:
    with pytest.raises(ValueError):
        R.register_op("bad", flops=0, bytes_moved=1, seconds=1)
    p = R.register_op("test-op", flops=2e9, bytes_moved=1e9, seconds=0.5, source="tests")
    try:
        assert p.intensity == pytest.approx(2.0) and p.gflops == pytest.approx(4.0)
        assert "test-op" in [o.name for o in R.registered_ops()]
    finally:
        R._OPS.pop("test-op", None)


def test_elbow_on_synthetic_curve() -> None:
    # cost per access doubles until stride 16, then flat: the elbow is 16
    rows = [{"stride": 2**k, "ns_per_access": 0.25 * 2 ** min(k, 4) * (1 + 0.05 * max(0, k - 4))} for k in range(11)]
    assert cache_walk.elbow_stride(rows) == 16


def test_size_grid_and_ram_guard() -> None:
    assert bandwidth.size_grid(1024, 16 * 1024, 2) == [1024, 2048, 4096, 8192, 16384]
    assert bandwidth.ram_safe_max_bytes(2.0) <= 2 * 1024**3 // 8
    assert bandwidth.ram_safe_max_bytes(64.0) == 1024**3
    assert bandwidth.ram_safe_max_bytes(None) == 256 * 1024**2


@pytest.mark.timing
def test_small_real_measurements() -> None:
    row = bandwidth.copy_bandwidth(1 << 20, min_time_s=0.01)
    assert row["gbs"] > 0.1 and row["bytes"] == 1 << 20
    g = peak.matmul_gflops(128, min_time_s=0.01)
    assert g["gflops"] > 0.01 and g["flops"] == 2 * 128**3
    t = time_call(lambda: sum(range(100)), min_time_s=0.005)
    assert 0 < t.best_s <= t.median_s


def test_roofline_lab_chart_draws_ceilings_as_lines_under_points(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Phase-01 lab-03's roofline goes through the one chart path: the ceilings it logs are
    lines (its YAML chart's `lines:`), the kernels labelled points, and the PNG is the runner's."""
    from workbench.charts.png import render_png
    from workbench.charts.spec import series
    from workbench.content import load_catalog

    data = {"peak": {"gflops": 100.0, "derived_gflops": 80.0}, "bandwidth": {"dram_gbs": 20.0, "llc_gbs": 60.0},
            "kernels": [R.OpPoint("k", 2e6, 8e6, 1e-3).as_dict()]}  # 2 GFLOP/s at 0.25 FLOP/B
    roof = R.Roofline(100.0, 20.0)
    lines = dict(R.ceiling_lines(roof, data))
    assert list(lines) == [R.ROOF, R.LLC_ROOF, R.DERIVED, R.RIDGE] and set(lines) <= set(R.LINES)
    assert lines["roof"][0] == (0.01, 0.2) and lines["roof"][-1] == (1000.0, 100.0)  # min(peak, I x bandwidth)
    assert lines["LLC roof"][-1] == (1000.0, 100.0) and lines["derived peak"] == [(0.01, 80.0), (1000.0, 80.0)]
    assert lines["ridge"] == [(5.0, 1.0), (5.0, 100.0)]  # peak / bandwidth, from half the slowest op to the peak
    records = [{"stage": "roofline", "series": n, "name": "", "intensity": x, "gflops": y} for n, xy in lines.items() for x, y in xy]
    records.append({"stage": "roofline", "series": "kernel", "name": "k", "intensity": 0.25, "gflops": 2.0})
    chart = next(lab for lab in load_catalog().phases[1].labs if lab.id == "lab-03").charts[0]
    kinds = {s.name: (s.kind, s.labels[:1]) for s in series(chart, records)}
    assert kinds == {**{n: ("line", [""]) for n in lines}, "kernel": ("scatter", ["k"])}
    out = tmp_path / "r.png"
    render_png(chart, records, out)
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"


def test_gpu_probe_skips_without_cuda() -> None:
    torch = pytest.importorskip("torch")
    from engine.systems.hardware.gpu import measure_gpu

    if not torch.cuda.is_available():
        assert measure_gpu(quick=True) is None


@pytest.mark.timing
def test_naive_matmul_kernel_point_is_far_below_roof() -> None:
    k = R.kernel_naive_matmul(24)
    assert k.intensity == pytest.approx(0.25)
    assert k.gflops < 1.0  # a Python loop: interpreter-bound
    assert np.isfinite(k.seconds)
