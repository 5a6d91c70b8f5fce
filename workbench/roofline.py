"""`workbench roofline`: this machine's roofline, measured once and cached in the workspace.

The measurement itself lives in engine.hardware.roofline; this module caches it as
runs/roofline/roofline.json (atomic write), re-measures when asked or when the machine or
NumPy changed, and turns it into one chart spec + records that both the CLI (plotext) and
the TUI draw, plus a matplotlib PNG with ceilings, ridge and labelled ops.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.content.schema import Chart

CACHE = Path("runs") / "roofline" / "roofline.json"


def _fingerprint() -> dict[str, Any]:
    import numpy as np

    from engine.hardware.profile import machine_profile

    prof = machine_profile()
    return {"cpu_model": prof["cpu_model"], "usable_cpus": prof["usable_cpus"], "numpy": np.__version__,
            "python": platform.python_version()}


def measure_or_load(store_dir: str | Path, remeasure: bool = False, quick: bool = False) -> dict[str, Any]:
    """The cached measurement if it matches this machine, else a fresh one (written atomically)."""
    from workbench.atomic import write_json

    path = Path(store_dir) / CACHE
    fp = _fingerprint()
    if path.exists() and not remeasure:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") == fp:
                data["cached"] = True
                return data
        except (OSError, json.JSONDecodeError):
            pass  # unreadable cache: measure again
    from engine.hardware.roofline import measure_machine
    from engine.run import to_json

    data = to_json(measure_machine(quick=quick))
    data.update({"fingerprint": fp, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick})
    write_json(path, data)
    data["cached"] = False
    return data


def chart_and_records(data: dict[str, Any]) -> tuple[Chart, list[dict[str, Any]]]:
    """One scatter spec (log-log): the roof as a sampled series, each op as a labelled point."""
    from engine.hardware.roofline import Roofline

    roof = Roofline(data["peak"]["gflops"], data["bandwidth"]["dram_gbs"])
    records: list[dict[str, Any]] = [{"series": "roof", "name": "", "intensity": x, "gflops": y}
                                     for x, y in roof.curve(0.01, 1000.0, 41)]
    records += [{"series": "ops", "name": k["name"], "intensity": k["intensity"], "gflops": k["gflops"]}
                for k in data["kernels"]]
    gpu = data.get("gpu")
    if gpu:
        records.append({"series": "gpu", "name": f"GPU peak fp32 ({gpu['name']})", "intensity": 1000.0,
                        "gflops": gpu["peak_fp32_gflops"]})
    chart = Chart(title=f"Roofline: {roof.bandwidth_gbs:.1f} GB/s, {roof.peak_gflops:.0f} GFLOP/s, ridge {roof.ridge:.1f} FLOP/B",
                  x="intensity", y=["gflops"], kind="scatter", logx=True, logy=True, series_by="series", label="name",
                  xlabel="FLOPs per byte", ylabel="GFLOP/s")
    return chart, records


def roofline_command(store_dir: Path, remeasure: bool = False, quick: bool = False, png: Path | None = None,
                     plot: bool = True) -> int:
    """Print the ceilings and ops, draw the roofline in the terminal, write a PNG. Returns an exit code."""
    from rich.console import Console
    from rich.table import Table

    from engine.hardware.plot import plot_roofline

    console = Console()
    if remeasure or not (Path(store_dir) / CACHE).exists():
        console.print("measuring bandwidth, peak and ops (about 10-30 s)...")
    data = measure_or_load(store_dir, remeasure=remeasure, quick=quick)
    chart, records = chart_and_records(data)
    if plot:
        import plotext as plt

        from workbench.charts.term import draw

        draw(plt, chart, records)
        plt.plotsize(100, 28)
        plt.show()
    table = Table(title=f"{data['profile']['cpu_model']} ({'cached ' + data['measured_at'] if data['cached'] else 'measured now'})")
    for col in ("op", "FLOP/B", "GFLOP/s", "bound", "of roof"):
        table.add_column(col, justify="left" if col == "op" else "right")
    for k in data["kernels"]:
        table.add_row(k["name"], f"{k['intensity']:.3g}", f"{k['gflops']:.3g}", k["bound"], f"{k['gflops'] / k['attainable']:.0%}")
    console.print(table)
    derived = data["peak"].get("derived_gflops")
    console.print(f"DRAM {data['bandwidth']['dram_gbs']:.1f} GB/s (assumed DIMMs {data['bandwidth']['derived_gbs']:.1f}); "
                  f"peak {data['peak']['gflops']:.0f} GFLOP/s (derived {derived or 0:.0f}); ridge {data['ridge']:.2f} FLOP/B")
    if data.get("gpu"):
        g = data["gpu"]
        console.print(f"GPU {g['name']}: {g['bandwidth_gbs']:.0f} GB/s, fp32 {g['peak_fp32_gflops']:.0f}, "
                      f"tf32 {g['peak_tf32_gflops']:.0f}, bf16 {g['peak_bf16_gflops']:.0f} GFLOP/s")
    else:
        console.print("GPU: none (CUDA not available); CPU roofline only")
    out = png or Path(store_dir) / "runs" / "roofline" / "roofline.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_roofline(data, out)
    console.print(f"PNG: {out}")
    return 0
