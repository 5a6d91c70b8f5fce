"""`workbench roofline`: this machine's roofline, measured once and cached in the workspace.

The measurement itself lives in engine.systems.hardware.roofline; this module caches it as
runs/roofline/roofline.json (atomic write), re-measures when asked or when the machine or
NumPy changed, and turns it into one chart spec + records that both the CLI (plotext) and
the TUI draw, plus a matplotlib PNG from the same spec: the roofline is one chart.

Roofs and points must come from the same conditions, or a point lands above its roof. The
cache records the BLAS thread count it was measured with; the DRAM roof is the best of the
bandwidth sweep and the DRAM-sized streaming kernels measured in the same run (best of N);
and every point still above a roof is labelled with a note that says why (cache-resident,
different thread count, or above every measured roof). Nothing coloured goes to a pipe or
under NO_COLOR.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.content.schema import Chart

CACHE = Path("runs") / "roofline" / "roofline.json"


def _fingerprint() -> dict[str, Any]:
    import numpy as np

    from engine.systems.hardware.profile import machine_profile

    prof = machine_profile()
    return {"cpu_model": prof["cpu_model"], "usable_cpus": prof["usable_cpus"], "numpy": np.__version__,
            "python": platform.python_version()}


def load_cached(store_dir: str | Path, fingerprint: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The cached measurement when it exists, reads, and was taken on this machine and NumPy; else None."""
    path = Path(store_dir) / CACHE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # none yet, or unreadable: measure again
    if not isinstance(data, dict) or data.get("fingerprint") != (fingerprint or _fingerprint()):
        return None
    data["cached"] = True
    return data


def measure_or_load(store_dir: str | Path, remeasure: bool = False, quick: bool = False) -> dict[str, Any]:
    """The cached measurement if it matches this machine, else a fresh one (written atomically)."""
    from engine.core.atomic import write_json

    path = Path(store_dir) / CACHE
    fp = _fingerprint()
    if not remeasure:
        data = load_cached(store_dir, fp)
        if data is not None:
            return data
    from engine.core.run import to_json
    from engine.systems.hardware.roofline import measure_machine

    data = to_json(measure_machine(quick=quick))
    data.update({"fingerprint": fp, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
                 "conditions": {"threads": blas_threads(), "dtype": "float32"}})
    write_json(path, data)
    data["cached"] = False
    return data


def blas_threads(env: Mapping[str, str] | None = None) -> str:
    """The BLAS/OpenMP thread count a process runs with: its OMP_NUM_THREADS, else every core."""
    env = os.environ if env is None else env
    return str(env.get("OMP_NUM_THREADS") or env.get("OPENBLAS_NUM_THREADS") or f"all {os.cpu_count()} cores")


STREAM_KERNELS = ("copy", "add")  # DRAM-sized streaming kernels: their bandwidth is a roof measurement too
ABOVE = 1.05  # a point this far over its roof gets a note (5 % is timing noise on a shared box)


def dram_roof(data: dict[str, Any]) -> float:
    """Best of N: the bandwidth sweep's DRAM plateau or the streaming kernels of the same run."""
    best = float(data["bandwidth"]["dram_gbs"])
    for k in data.get("kernels", []):
        if k["name"].startswith(STREAM_KERNELS) and k.get("seconds"):
            best = max(best, k.get("bytes_moved", k.get("bytes", 0.0)) / k["seconds"] / 1e9)
    return best


def above_roof_note(data: dict[str, Any], point: dict[str, Any]) -> str | None:
    """Why a point sits above the roof, or None when it does not."""
    from engine.systems.hardware.roofline import Roofline

    roof = Roofline(data["peak"]["gflops"], dram_roof(data))
    i, g = point["intensity"], point["gflops"]
    if g <= ABOVE * roof.attainable(i):
        return None
    share = f"{g / roof.attainable(i):.0%} of the roof"
    llc = data["bandwidth"].get("llc_gbs")
    if g > ABOVE * roof.peak_gflops:
        why = "above the measured compute peak"
    elif llc and g <= ABOVE * min(roof.peak_gflops, i * llc):
        return f"{share}: its data fits in cache, so the LLC roof bounds it, not DRAM"
    else:
        why = "above every measured roof"
    theirs = point.get("threads")
    ours = (data.get("conditions") or {}).get("threads")
    if theirs and ours and str(theirs) != str(ours):
        return f"{share}, {why}: the lab ran with {theirs} thread(s), the roof was measured with {ours}"
    return f"{share}, {why}: timing noise, or measured under other conditions than the roof (re-measure)"


OPS, LAB_OPS = "ops", "lab ops"
MAX_METRICS_BYTES = 8 * 1024 * 1024  # a lab's metrics file larger than this is not scanned for op points


def lab_points(store_dir: str | Path) -> list[dict[str, Any]]:
    """Op points recorded by labs: metric rows with `intensity` and `gflops` in each target's latest run.

    Labs run in their own process, so what they `register_op` is gone when they end; their
    metrics stay. Per op (the row's `op` or `name`) the row with the largest `n` is kept,
    e.g. bk-scaling's ops at its longest sequence.
    """
    import sqlite3

    from workbench.store import runs as run_index

    db = Path(store_dir) / "workbench.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        run_index.ensure(conn, run_index.SCHEMA)
        rows = conn.execute("SELECT target, run_dir FROM runs WHERE status IN ('passed', 'failed') ORDER BY started_at, id").fetchall()
    finally:
        conn.close()
    latest = {r["target"]: r["run_dir"] for r in rows}
    points: list[dict[str, Any]] = []
    for target, run_dir in sorted(latest.items()):
        best: dict[str, dict[str, Any]] = {}
        path = Path(store_dir) / run_dir / "metrics.jsonl"  # run_dir is absolute, or relative to the workspace
        threads = _run_threads(path.parent)
        try:
            if path.stat().st_size > MAX_METRICS_BYTES:
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            if '"intensity"' not in line or '"gflops"' not in line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            i, g = row.get("intensity"), row.get("gflops")
            if not (_positive(i) and _positive(g)):
                continue
            op = str(row.get("op") or row.get("name") or target)
            if op not in best or row.get("n", 0) >= best[op].get("n", 0):
                best[op] = row
        for op, row in best.items():
            size = f" N={row['n']}" if "n" in row else ""
            points.append({"name": f"{op}{size}", "intensity": float(row["intensity"]), "gflops": float(row["gflops"]),
                           "source": target, **({"threads": threads} if threads else {})})
    return points


def _run_threads(run_dir: Path) -> str | None:
    try:
        env = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")).get("env") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return env.get("OMP_NUM_THREADS")


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and v == v and v != float("inf")


def chart_and_records(data: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> tuple[Chart, list[dict[str, Any]]]:
    """The roofline chart (engine.systems.hardware.roofline.chart_spec, as every lab draws it) and its rows:
    ceilings and the ridge as lines, each op as a labelled point.

    `extra` adds points recorded elsewhere (see `lab_points`); ops registered in this process
    through engine.systems.hardware.roofline.register_op after the measurement are added too.
    """
    from engine.systems.hardware.roofline import (
        X_RANGE,
        Roofline,
        ceiling_lines,
        chart_rows,
        chart_spec,
        registered_ops,
    )

    roof = Roofline(data["peak"]["gflops"], dram_roof(data))
    kernels = list(data["kernels"])
    known = {k["name"] for k in kernels}
    later = [p.as_dict() for p in registered_ops() if p.name not in known] + list(extra or [])
    points = [_point(data, OPS, k) for k in kernels] + [_point(data, LAB_OPS, p) for p in later]
    gpu = data.get("gpu")
    if gpu:
        points.append({"series": "gpu", "name": f"GPU peak fp32 ({gpu['name']})", "intensity": X_RANGE[1],
                       "gflops": gpu["peak_fp32_gflops"]})
    title = f"Roofline: {roof.bandwidth_gbs:.1f} GB/s, {roof.peak_gflops:.0f} GFLOP/s, ridge {roof.ridge:.1f} FLOP/B"
    return Chart(**chart_spec(title)), chart_rows(ceiling_lines(roof, data), points)


def _point(data: dict[str, Any], series: str, p: dict[str, Any]) -> dict[str, Any]:
    """An op point; one above its roof is labelled `name ▲` and carries its note."""
    note = above_roof_note(data, p)
    row = {"series": series, "name": p["name"] + (" ▲" if note else ""), "intensity": p["intensity"],
           "gflops": p["gflops"]}
    if note:
        row["note"] = note
    return row


def notes(records: list[dict[str, Any]]) -> list[str]:
    """`▲ name: why it is above the roof` for every such point (CLI and TUI print these)."""
    return [f"▲ {r['name'].removesuffix(' ▲')}: {r['note']}" for r in records if r.get("note")]


def ridge_text(data: dict[str, Any]) -> str:
    """The ceilings and the ridge point in one sentence (CLI and TUI)."""
    derived = data["peak"].get("derived_gflops")
    return (f"DRAM {dram_roof(data):.1f} GB/s (assumed DIMMs {data['bandwidth'].get('derived_gbs') or 0:.1f}); "
            f"peak {data['peak']['gflops']:.0f} GFLOP/s (derived {derived or 0:.0f}); ridge {dram_roof_ridge(data):.2f} FLOP/B: "
            f"ops left of it are memory-bound, right of it compute-bound")


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def use_color(stream: Any = None) -> bool:
    """Colour only on a terminal and without NO_COLOR (https://no-color.org)."""
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def plot_text(chart: Chart, records: list[dict[str, Any]], color: bool,
              size: tuple[int, int] = (100, 28)) -> tuple[str, str]:
    """(the terminal roofline, its legend as Rich markup); no escape codes in the plot when `color` is off."""
    import plotext as plt

    from workbench.charts.term import draw

    drawn = draw(plt, chart, records, color=color, size=size)
    plt.plotsize(*size)
    text = plt.build()
    return (text if color else ANSI.sub("", text)), drawn.legend_markup()


def roofline_command(store_dir: Path, remeasure: bool = False, quick: bool = False, png: Path | None = None,
                     plot: bool = True, as_json: bool = False) -> int:
    """Print the ceilings and ops, draw the roofline in the terminal, write a PNG. Returns an exit code."""
    from rich.console import Console
    from rich.table import Table

    from workbench.charts.png import render_png

    color = use_color()
    console = Console(no_color=not color, highlight=False, stderr=as_json)
    if remeasure or not (Path(store_dir) / CACHE).exists():
        console.print("measuring bandwidth, peak and ops (about 10-30 s)...")
    data = measure_or_load(store_dir, remeasure=remeasure, quick=quick)
    chart, records = chart_and_records(data, lab_points(store_dir))
    out = png or Path(store_dir) / "runs" / "roofline" / "roofline.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    render_png(chart, records, out)
    if as_json:
        points = [r for r in records if r["series"] in (OPS, LAB_OPS)]
        print(json.dumps({"dram_gbs": dram_roof(data), "sweep_dram_gbs": data["bandwidth"]["dram_gbs"],
                          "peak_gflops": data["peak"]["gflops"], "ridge": dram_roof_ridge(data),
                          "conditions": data.get("conditions"), "measured_at": data.get("measured_at"),
                          "cached": data.get("cached"), "points": points, "png": str(out)}, indent=2))
        return 0
    if plot:
        text, legend = plot_text(chart, records, color)
        print(text)
        if legend:
            console.print(legend)
    table = Table(title=f"{data['profile']['cpu_model']} ({'cached ' + data['measured_at'] if data['cached'] else 'measured now'})")
    for col in ("op", "FLOP/B", "GFLOP/s", "bound", "of roof"):
        table.add_column(col, justify="left" if col == "op" else "right")
    from engine.systems.hardware.roofline import Roofline

    roof = Roofline(data["peak"]["gflops"], dram_roof(data))
    for p in (r for r in records if r["series"] in (OPS, LAB_OPS)):
        table.add_row(p["name"] + (" (lab)" if p["series"] == LAB_OPS else ""), f"{p['intensity']:.3g}",
                      f"{p['gflops']:.3g}", roof.bound(p["intensity"]), f"{p['gflops'] / roof.attainable(p['intensity']):.0%}")
    console.print(table)
    for line in notes(records):
        console.print(line, markup=False)
    console.print(ridge_text(data), markup=False)
    if data.get("gpu"):
        g = data["gpu"]
        console.print(f"GPU {g['name']}: {g['bandwidth_gbs']:.0f} GB/s, fp32 {g['peak_fp32_gflops']:.0f}, "
                      f"tf32 {g['peak_tf32_gflops']:.0f}, bf16 {g['peak_bf16_gflops']:.0f} GFLOP/s")
    else:
        console.print("GPU: none (CUDA not available); CPU roofline only")
    console.print(f"PNG: {out}", markup=False)
    return 0


def dram_roof_ridge(data: dict[str, Any]) -> float:
    return float(data["peak"]["gflops"]) / dram_roof(data)
