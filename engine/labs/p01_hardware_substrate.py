"""Phase 01 labs: profile the machine, sweep bandwidth, walk the cache, draw the roofline.

All four are timing labs: their results hold measured times, so they vary run to run;
checks compare ratios and orderings measured in the same run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.systems.hardware import bandwidth, cache_walk
from engine.systems.hardware.profile import (
    derived_dram_gbs,
    derived_peak_gflops,
    last_level_cache_bytes,
    line_bytes,
    machine_profile,
)


def profile_machine(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: what the machine is, and the ceilings its datasheet implies."""
    prof = machine_profile()
    pi, beta = derived_peak_gflops(prof), derived_dram_gbs(prof)
    unknown = sum(1 for k in ("cpu_model", "clock_source", "governor", "kernel") if prof.get(k) in (None, "unknown"))
    for c in prof["caches"]:
        rec.log(c["level"], cache_level=c["level"], cache_kib=(c["size_bytes"] or 0) / 1024, line_bytes=c["line_bytes"] or 0)
    ridge = pi / beta if pi else None
    rec.note(f"Derived: {pi or 0:.1f} GFLOP/s peak ({prof['clock_source']}), {beta:.1f} GB/s assumed "
             f"{prof['dram_assumption']['kind']} x{prof['dram_assumption']['channels']} channels; "
             f"balance {ridge or 0:.1f} FLOPs per byte. Unknown fields: governor needs cpufreq, DIMMs need sudo dmidecode.")
    return {
        "cpu_model": prof["cpu_model"], "physical_cores": prof["physical_cores"], "logical_cpus": prof["logical_cpus"],
        "clock_ghz": prof["clock_ghz"], "clock_source": prof["clock_source"], "fp32_lanes": prof["fp32_lanes"],
        "fma": prof["fma"], "simd": prof["simd"], "n_cache_levels": len(prof["caches"]),
        "line_bytes": line_bytes(prof), "llc_mib": last_level_cache_bytes(prof) / 1024**2,
        "ram_gb": prof["ram_gb"], "governor": prof["governor"], "kernel": prof["kernel"],
        "derived_peak_gflops": pi, "derived_dram_gbs": beta, "derived_ridge": ridge, "unknown_fields": unknown,
    }


def bandwidth_sweep(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: np.copyto throughput from 1 KiB to a RAM-safe maximum."""
    prof = machine_profile()
    llc = last_level_cache_bytes(prof)
    cap = int(cfg["max_mib"]) * 1024**2
    top = max(bandwidth.ram_safe_max_bytes(prof.get("ram_available_gb"), cap), min(8 * llc, cap))
    sizes = bandwidth.size_grid(int(cfg["min_kib"]) * 1024, top, int(cfg["factor"]))

    def on_point(i: int, row: dict[str, float]) -> None:
        rec.log(i, stage="sweep", series="copy", size_kib=row["bytes"] / 1024, gbs=row["gbs"])
        rec.progress(i + 1, len(sizes))

    rows = bandwidth.sweep(sizes, float(cfg["min_time_ms"]) / 1000, on_point)
    dram = bandwidth.dram_bandwidth(rows, llc)
    levels = sorted(c["size_bytes"] for c in prof["caches"] if c.get("size_bytes"))
    l1 = bandwidth.plateau(rows, 0, levels[0] // 2) if levels else None
    l2 = bandwidth.plateau(rows, 2 * levels[0], levels[1] // 2) if len(levels) > 1 else None
    l3 = bandwidth.plateau(rows, 2 * levels[1], levels[2] // 2) if len(levels) > 2 else None
    best = max(r["gbs"] for r in rows)
    beta = derived_dram_gbs(prof)
    for end, row in ((len(rows), rows[0]), (len(rows) + 1, rows[-1])):  # the DRAM plateau as a line under the sweep
        rec.log(end, stage="sweep", series="DRAM", size_kib=row["bytes"] / 1024, gbs=dram)
    rec.note(f"DRAM {dram:.1f} GB/s vs assumed {beta:.1f} GB/s ({prof['dram_assumption']['kind']}); "
             f"best in-cache {best:.1f} GB/s. Small copies also pay a fixed call overhead (~0.4 us).")
    return {"n_sizes": len(rows), "max_kib": rows[-1]["bytes"] / 1024, "dram_gbs": dram, "best_gbs": best,
            "l1_plateau_gbs": l1, "l2_plateau_gbs": l2, "l3_plateau_gbs": l3,
            "cache_over_dram": best / dram, "dram_over_derived": dram / beta}


def cache_walks(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: ns per access vs stride; the elbow sits at the cache line. Break: stride_switch."""
    prof = machine_profile()
    llc = last_level_cache_bytes(prof)
    nbytes = max(int(cfg["buffer_mib"]) * 1024**2, 2 * llc)
    strides = [2**k for k in range(int(cfg["max_log2_stride"]) + 1)]
    min_t = float(cfg["min_time_ms"]) / 1000
    rows = cache_walk.stride_sweep(nbytes, strides, np.float32, min_t, passes=int(cfg["passes"]))
    for r in rows:
        rec.log(int(r["stride"]), stage="walk", stride=r["stride"], ns_per_access=r["ns_per_access"])
    elbow = cache_walk.elbow_stride(rows)
    expected = line_bytes(prof) // 4
    # Re-run the strides around the elbow: the course asks for a +-15% re-run agreement.
    again = cache_walk.stride_sweep(nbytes, [expected, 4 * expected], np.float32, min_t)
    first = {int(r["stride"]): r["ns_per_access"] for r in rows}
    rerun_dev = max(abs(a["ns_per_access"] / first[int(a["stride"])] - 1) for a in again)

    # The break: a walk that should touch every element runs at stride 1024 instead of 1.
    walk_stride = 1024 if cfg.get("fault") == "stride_switch" else int(cfg["walk_stride"])
    n64 = int(cfg["walk_elems"])
    buf64 = np.random.default_rng(cfg["seed"]).random(n64)
    base = cache_walk.walk(buf64, 1, min_t)
    used = base if walk_stride == 1 else cache_walk.walk(buf64, walk_stride, min_t)
    for s in (1, 8, 64, 512, 1024):
        r = cache_walk.walk(buf64, s, min_t / 4)
        rec.log(s, stage="switch", stride=s, ns_per_elem=r["ns_per_access"], wall_ms=r["seconds"] * 1e3)
    rec.note(f"Elbow at stride {elbow} float32 ({elbow * 4} B); sysfs line size {line_bytes(prof)} B. "
             f"Walk kernel at stride {walk_stride}: {used['ns_per_access']:.2f} ns/elem vs {base['ns_per_access']:.2f} contiguous.")
    return {
        "elbow_stride": elbow, "expected_elbow": expected, "elbow_ratio": elbow / expected,
        "ns_at_1": first[1], "ns_at_line": first[expected], "ns_at_max": rows[-1]["ns_per_access"],
        "line_over_unit": first[expected] / first[1], "rerun_max_dev": rerun_dev,
        "accesses_off_by": max(abs(int(r["accesses"]) - -(-(nbytes // 4) // int(r["stride"]))) for r in rows),
        "walk_stride": walk_stride, "walk_ns_per_elem": used["ns_per_access"],
        "walk_slowdown": used["ns_per_access"] / base["ns_per_access"],
        "elements_drop": walk_stride, "time_drop": base["seconds"] / used["seconds"],
    }


def roofline(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: both ceilings measured, kernels placed, ridge marked. The ceilings are logged as
    line series and the kernels as labelled points; the YAML's chart (with `lines:`) draws them,
    in the terminal and as the run's PNG, through workbench/charts like every other chart."""
    from engine.systems.hardware.roofline import Roofline, ceiling_lines, chart_rows, measure_machine

    data = measure_machine(quick=bool(cfg.get("quick")), with_gpu=cfg.get("device") == "cuda")
    roof = Roofline(data["peak"]["gflops"], data["bandwidth"]["dram_gbs"])
    points = [{"name": k["name"], "intensity": k["intensity"], "gflops": k["gflops"]} for k in data["kernels"]]
    for step, row in enumerate(chart_rows(ceiling_lines(roof, data), points)):
        rec.log(step, stage="roofline", **row)
    by = {k["name"].split(" N=")[0].split(" n=")[0]: k for k in data["kernels"]}
    naive, blas = by["naive Python matmul"], by["np.matmul"]
    derived = data["peak"]["derived_gflops"]
    rec.note(f"Ridge at {roof.ridge:.1f} FLOPs/byte. Naive Python matmul reaches {naive['gflops'] * 1e3:.1f} MFLOP/s at "
             f"I=0.25, {naive['attainable'] / naive['gflops']:.0f}x under its memory roof: the interpreter, not memory, "
             f"limits it. np.matmul at I={blas['intensity']:.0f} reaches {blas['gflops']:.0f} GFLOP/s (compute-bound).")
    out = {
        "peak_gflops": roof.peak_gflops, "dram_gbs": roof.bandwidth_gbs, "ridge": roof.ridge,
        "derived_peak_gflops": derived, "peak_over_derived": roof.peak_gflops / derived if derived else None,
        "llc_gbs": data["bandwidth"]["llc_gbs"], "n_kernels": len(data["kernels"]),
        "naive_matmul_gflops": naive["gflops"], "naive_under_roof": naive["attainable"] / naive["gflops"],
        "blas_matmul_gflops": blas["gflops"], "blas_bound": blas["bound"], "blas_of_peak": blas["gflops"] / roof.peak_gflops,
        "dot_bound": by["np.dot"]["bound"], "blas_over_naive": blas["gflops"] / naive["gflops"],
        "gpu": data["gpu"],
    }
    return out
