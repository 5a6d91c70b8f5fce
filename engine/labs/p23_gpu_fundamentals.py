"""Phase 23 labs: one GPU measured (device query, copy bandwidth, roofline), and the CPU substitute.

Labs 01-03 need a CUDA device (the runner skips them otherwise) and go through torch, not cupy.
Lab 04 runs anywhere: a compiled STREAM triad and single-thread matmuls give the CPU roofline,
Mini-GPT operators are timed and placed on it, and a compiled matmul is timed in the two loop
orders. Fault `strided_inner_loop` (the break) makes the lab's matmul the i-j-k order, whose
inner loop strides down a column of B. All four are timing labs: their results vary run to run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.systems.hardware import cloops, peak
from engine.systems.hardware.roofline import Roofline, chart_rows, closed_form_error
from engine.systems.hardware.timing import time_call

FAULT = "strided_inner_loop"

# datasheet values (dense, boost clock): fp32 TFLOP/s, fp16 tensor TFLOP/s, HBM GB/s
DATASHEET: dict[str, tuple[float, float, float]] = {
    "A100-SXM4-80GB": (19.5, 312.0, 2039.0), "A100-SXM4-40GB": (19.5, 312.0, 1555.0),
    "A100-PCIE-40GB": (19.5, 312.0, 1555.0), "A100 80GB PCIe": (19.5, 312.0, 1935.0),
    "H100 80GB HBM3": (66.9, 989.0, 3350.0), "H100 PCIe": (51.2, 756.0, 2000.0),
    "H200": (66.9, 989.0, 4800.0), "NVIDIA H200": (66.9, 989.0, 4800.0),
    "L4": (30.3, 121.0, 300.0), "A10": (31.2, 125.0, 600.0),
}


# ---------------------------------------------------------------------- lab 01: device query
def device_query(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    from engine.systems.hardware.gpu import device_query as query

    q = query(int(cfg["device_index"]))
    nulls = sorted(k for k, v in q.items() if v is None)
    for _i, k in enumerate(nulls):
        rec.note(f"not readable here: {k}")
    sheet = next((v for name, v in DATASHEET.items() if name in q["name"]), None)
    diffs: dict[str, float] = {}
    if sheet:
        for key, ref in zip(("peak_fp32_tflops", "peak_fp16_tflops_tensor", "theoretical_hbm_bandwidth_gbs"), sheet, strict=True):
            if q.get(key):
                diffs[f"datasheet_rel_diff_{key}"] = q[key] / ref - 1.0
    return {**{k: v for k, v in q.items() if not isinstance(v, (list, dict))}, "null_fields": len(nulls),
            "null_field_names": nulls, "datasheet_known": sheet is not None, **diffs,
            "unexplained_datasheet_mismatches": sum(1 for v in diffs.values() if abs(v) > 0.10)}


# ---------------------------------------------------------------------- lab 02: copy bandwidth
def copy_bandwidth(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    from engine.systems.hardware.gpu import copy_gbs
    from engine.systems.hardware.gpu import device_query as query

    lo, hi, k = int(cfg["min_size_kib"]), int(cfg["max_size_kib"]), int(cfg["n_sizes"])
    sizes = sorted({int(round(x)) for x in np.geomspace(lo, hi, k)})
    runs = [("h2d", True), ("d2h", True), ("d2d", True), ("h2d", False), ("d2h", False)]
    best: dict[str, float] = {}
    step = 0
    for direction, pinned in runs:
        label = direction if pinned else f"{direction}_pageable"
        for kib in sizes:
            row = copy_gbs(direction, kib * 1024, pinned, float(cfg["min_ms_per_point"]) / 1000, int(cfg["warmup"]))
            rec.log(step, stage="bandwidth", direction=label, size_kib=kib, throughput_gbs=row["throughput_gbs"],
                    iters=row["iters"])
            best[label] = max(best.get(label, 0.0), row["throughput_gbs"])
            step += 1
        rec.progress(step, len(runs) * len(sizes))
    q = query(0)
    hbm, pcie = q["theoretical_hbm_bandwidth_gbs"], q["pcie_peak_gbs"]
    out: dict[str, Any] = {f"{k}_peak_gbs": v for k, v in best.items()}
    # a device-to-device copy reads and writes every byte: twice the bytes copied cross HBM
    out["d2d_fraction_of_hbm_peak"] = 2 * best["d2d"] / hbm if hbm else None
    out["h2d_fraction_of_pcie_peak"] = best["h2d"] / pcie if pcie else None
    out["d2h_fraction_of_pcie_peak"] = best["d2h"] / pcie if pcie else None
    out["h2d_d2h_rel_diff"] = abs(best["h2d"] - best["d2h"]) / max(best["h2d"], best["d2h"])
    out["h2d_pinned_over_pageable"] = best["h2d"] / best["h2d_pageable"]
    out["d2d_over_h2d"] = best["d2d"] / best["h2d"]
    out["hbm_theoretical_gbs"], out["pcie_theoretical_gbs"] = hbm, pcie
    return out


# ---------------------------------------------------------------------- lab 03: GPU roofline
def _decode_attention_point(S: int, d: int, dtype: str, iters: int) -> dict[str, Any]:
    """One decode step of single-head attention over S cached keys: scores, softmax, weighted V."""
    import torch

    from engine.systems.hardware.gpu import event_seconds

    t = {"float32": torch.float32, "float16": torch.float16}[dtype]
    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(d, device="cuda", dtype=t, generator=g)
    K = torch.randn(S, d, device="cuda", dtype=t, generator=g)
    V = torch.randn(S, d, device="cuda", dtype=t, generator=g)
    scale = 1.0 / math.sqrt(d)
    sec = event_seconds(lambda: torch.softmax((K @ q) * scale, 0) @ V, iters)
    size = K.element_size()
    flops = 4.0 * S * d + 5.0 * S
    moved = 2.0 * S * d * size + 2.0 * d * size  # K and V read once; q read, output written
    return {"S": S, "d": d, "dtype": dtype, "seconds": sec, "flops": flops, "bytes": moved,
            "intensity": flops / moved, "tflops": flops / sec / 1e12}


def gpu_roofline(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    from engine.systems.hardware.gpu import copy_gbs, matmul_tflops
    from engine.systems.hardware.gpu import device_query as query

    q = query(0)
    n, iters = int(cfg["matmul_size"]), int(cfg["iters"])
    peaks = {dt: matmul_tflops(n, dt, iters) for dt in cfg["dtypes"]}
    beta = 2 * copy_gbs("d2d", 256 * 1024**2, min_seconds=0.2)["throughput_gbs"]  # read + write
    out: dict[str, Any] = {"measured_hbm_gbs": beta}
    lines, points = [], []
    for dt, row in peaks.items():
        roof = Roofline(row["tflops"] * 1e3, beta)
        lines.append((f"roof {dt}", [(x, y / 1e3) for x, y in roof.curve(0.1, 10000.0, 25)]))
        points.append({"name": f"matmul {n} {dt}", "intensity": row["intensity"], "tflops": row["tflops"]})
        out[f"{dt}_matmul_tflops"] = row["tflops"]
    derived = {"float32": q["peak_fp32_tflops"], "float16": q["peak_fp16_tflops_tensor"], "bfloat16": q["peak_bf16_tflops_tensor"]}
    for dt, key in (("float32", "fp32"), ("float16", "fp16"), ("bfloat16", "bf16")):
        if dt in peaks and derived.get(dt):
            out[f"{key}_matmul_fraction_of_peak"] = peaks[dt]["tflops"] / derived[dt]
    fp16_peak = derived.get("float16") or peaks.get("float16", {}).get("tflops")
    worst = 0.0
    shapes = [(S, int(cfg["decode_d"]), dt) for S in cfg["S_values"] for dt in ("float32", "float16")]
    shapes += [(S, int(cfg["llama_d"]), "float16") for S in cfg["llama_S_values"]]
    for S, d, dt in shapes:
        p = _decode_attention_point(int(S), d, dt, iters)
        points.append({"name": f"decode attn d={d} S={S} {dt}", "intensity": p["intensity"], "tflops": p["tflops"], "S": S})
        if fp16_peak and d == int(cfg["decode_d"]):
            worst = max(worst, p["tflops"] / fp16_peak)
        if d == int(cfg["llama_d"]):
            out[f"llama_decode_fraction_of_bandwidth_S{S}"] = p["bytes"] / p["seconds"] / 1e9 / beta
    out["decode_attention_fraction_of_fp16_peak"] = worst
    for step, row in enumerate(chart_rows(lines, points, y="tflops")):
        rec.log(step, stage="roofline", **row)
    out["ridge_fp16"] = peaks["float16"]["tflops"] * 1e3 / beta if "float16" in peaks else None
    return out


# ---------------------------------------------------------------------- lab 04: CPU substitute
def _linear_point(batch: int, d_in: int, d_out: int, min_time: float) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x, W = rng.random((batch, d_in), dtype=np.float32), rng.random((d_in, d_out), dtype=np.float32)
    out = np.empty((batch, d_out), dtype=np.float32)
    t = time_call(lambda: np.matmul(x, W, out=out), min_time_s=min_time, batches=3).best_s
    flops = 2.0 * batch * d_in * d_out
    moved = 4.0 * (batch * d_in + d_in * d_out + batch * d_out)
    return {"op": f"Linear {d_in}x{d_out} B={batch}", "flops": flops, "bytes": moved, "seconds": t}


def _attention_point(S: int, d: int, min_time: float) -> dict[str, Any]:
    """Naive attention with S and P materialised: 4 S^2 d FLOPs, Q K V O plus S and P written and read."""
    rng = np.random.default_rng(0)
    Q, K, V = (rng.random((S, d), dtype=np.float32) for _ in range(3))

    def run() -> np.ndarray:
        s = Q @ K.T / np.float32(math.sqrt(d))
        p = np.exp(s - s.max(1, keepdims=True))
        return (p / p.sum(1, keepdims=True)) @ V

    t = time_call(run, min_time_s=min_time, batches=3).best_s
    flops = 4.0 * S * S * d
    moved = 4.0 * (4 * S * d + 4 * S * S)
    return {"op": f"attention S={S} d={d}", "flops": flops, "bytes": moved, "seconds": t}


def cpu_roofline(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    min_time = float(cfg["min_time_s"])
    triad_gbs = cloops.triad_gbs(int(cfg["triad_mib"]) * 1024**2 // 4, min_time)
    triad_err = cloops.triad_max_err(cfg["seed"])  # the compiled triad's values against float64
    mm = [peak.matmul_gflops(int(n), min_time) for n in cfg["matmul_sizes"]]
    pi = max(r["gflops"] for r in mm)
    roof = Roofline(pi, triad_gbs)
    points = [{"op": f"matmul N={r['n']}", "flops": r["flops"], "bytes": r["bytes"], "seconds": r["seconds"]} for r in mm]
    points += [_linear_point(int(B), 64, 64, min_time) for B in cfg["linear_batches"]]
    points += [_attention_point(int(cfg["attention_S"]), 64, min_time)]
    for p in points:
        p["intensity"], p["gflops"] = p["flops"] / p["bytes"], p["flops"] / p["seconds"] / 1e9
    rows = chart_rows([("roof", roof.curve(0.05, 1000.0, 25))],
                      [{"name": p["op"], "intensity": p["intensity"], "gflops": p["gflops"]} for p in points])
    for step, row in enumerate(rows):
        rec.log(step, stage="roofline", **row)
    roof_err = closed_form_error(roof, 0.05, 1000.0, 25)  # ridge = peak / bandwidth, attainable = min(peak, I x bw)
    out: dict[str, Any] = {"triad_gbs": triad_gbs, "peak_gflops": pi, "ridge": roof.ridge,
                           "triad_max_abs_err": triad_err, "roofline_formula_max_rel_err": roof_err,
                           **{f"matmul_gflops_n{r['n']}": r["gflops"] for r in mm},
                           **{f"intensity_matmul_n{r['n']}": r["flops"] / r["bytes"] for r in mm}}
    for p in points:
        if p["op"].startswith("Linear"):
            out[f"intensity_linear_b{p['op'].rsplit('=', 1)[1]}"] = p["intensity"]

    # loop order: the lab's matmul (i-k-j, or i-j-k under the break) against the i-k-j reference
    n = int(cfg["loop_order_n"])
    order = "ijk" if cfg.get("fault") == FAULT else "ikj"
    t_lab, t_ref, agree_diff = cloops.loop_order_race(n, order, int(cfg["loop_order_repeats"]), cfg["seed"])
    for i, (name, t) in enumerate(((f"lab ({order})", t_lab), ("reference (ikj)", t_ref))):
        rec.log(i, stage="loop_order", kernel=name, seconds=t, gflops=2.0 * n**3 / t / 1e9)
    rec.note(f"loop order at N={n}: {order} {t_lab * 1e3:.1f} ms, ikj {t_ref * 1e3:.1f} ms ({t_lab / t_ref:.1f}x)")
    out.update(loop_order=order, loop_order_n=n, lab_matmul_seconds=t_lab, ikj_matmul_seconds=t_ref,
               strided_over_contiguous_time=t_lab / t_ref,
               loop_orders_agree_max_abs_diff=agree_diff)
    return out
