"""The roofline of this machine: attainable GFLOP/s = min(peak, intensity x bandwidth).

Two ceilings are measured here (bandwidth from the copy sweep's DRAM tail, peak from GEMM),
then kernels are timed and placed as points (intensity = FLOPs / bytes moved). Other parts
of the engine add their own points through `register_op` (a measured point) or
`register_probe` (a function the roofline calls when it measures), e.g.

    from engine.systems.hardware.roofline import register_op
    register_op("attention fwd T=256", flops=f, bytes_moved=b, seconds=t, source="phase-16")
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.scratch.linalg.matmul import matmul_naive
from engine.systems.hardware import bandwidth, peak
from engine.systems.hardware.profile import (
    derived_dram_gbs,
    derived_peak_gflops,
    last_level_cache_bytes,
    machine_profile,
)
from engine.systems.hardware.timing import time_call


@dataclass(frozen=True)
class OpPoint:
    name: str
    flops: float
    bytes_moved: float
    seconds: float
    source: str = "engine"

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes_moved

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "intensity": self.intensity, "gflops": self.gflops}


_OPS: dict[str, OpPoint] = {}
_PROBES: dict[str, Callable[[], OpPoint]] = {}


def register_op(name: str, flops: float, bytes_moved: float, seconds: float, source: str = "engine") -> OpPoint:
    """Add (or replace) a measured op; it appears on every roofline drawn in this process."""
    if flops <= 0 or bytes_moved <= 0 or seconds <= 0:
        raise ValueError(f"op {name!r} needs positive flops, bytes and seconds")
    point = OpPoint(name, float(flops), float(bytes_moved), float(seconds), source)
    _OPS[name] = point
    return point


def register_probe(name: str, fn: Callable[[], OpPoint]) -> None:
    """Add a function that measures an op when the roofline is (re)measured."""
    _PROBES[name] = fn


def registered_ops() -> list[OpPoint]:
    return list(_OPS.values())


def clear_ops() -> None:
    _OPS.clear()


@dataclass(frozen=True)
class Roofline:
    peak_gflops: float
    bandwidth_gbs: float

    @property
    def ridge(self) -> float:
        """I_crit = peak / bandwidth, in FLOPs per byte: left of it, memory-bound."""
        return self.peak_gflops / self.bandwidth_gbs

    def attainable(self, intensity: float) -> float:
        return min(self.peak_gflops, intensity * self.bandwidth_gbs)

    def bound(self, intensity: float) -> str:
        return "memory" if intensity < self.ridge else "compute"

    def curve(self, lo: float = 0.01, hi: float = 1000.0, points: int = 41) -> list[tuple[float, float]]:
        xs = np.logspace(math.log10(lo), math.log10(hi), points)
        return [(float(x), self.attainable(float(x))) for x in xs]


ROOF, LLC_ROOF, DERIVED, RIDGE = "roof", "LLC roof", "derived peak", "ridge"
GPU_ROOFS = ["roof float32", "roof tf32", "roof float16", "roof bfloat16"]  # one roof per matmul dtype (phase 23)
LINES = [ROOF, LLC_ROOF, DERIVED, RIDGE, *GPU_ROOFS]  # a roofline chart's `lines:`; op points are the other series
X_RANGE = (0.01, 1000.0)
OPS = "ops"


# ---- the roofline chart: one spec, one row shape, for every lab and `workbench roofline` --------------

def chart_spec(title: str, unit: str = "GFLOP/s") -> dict[str, Any]:
    """The roofline as chart-spec fields (workbench.content.schema.Chart, docs/CONTRACTS.md): log-log,
    one series per `series` value, the ceilings in LINES drawn as lines, the ops as points labelled by
    `name`. A lab's YAML chart repeats these fields with `where: {stage: roofline}`; tests hold every
    roofline chart in the content to this spec (tests/test_roofline_one_chart.py)."""
    y = "tflops" if unit.startswith("T") else "gflops"
    return {"title": title, "x": "intensity", "y": [y], "kind": "scatter", "logx": True, "logy": True,
            "series_by": "series", "label": "name", "xlabel": "FLOPs per byte", "ylabel": unit, "lines": list(LINES)}


def chart_rows(lines: list[tuple[str, list[tuple[float, float]]]], points: list[dict[str, Any]],
               y: str = "gflops") -> list[dict[str, Any]]:
    """The records a roofline chart draws: every (x, y) of each named line, then each op point
    (`name`, `intensity`, `y`, optional `series`, default OPS, and any other keys it carries)."""
    rows = [{"series": name, "name": "", "intensity": x, y: v} for name, xy in lines for x, v in xy]
    for p in points:
        rows.append({"series": OPS, **p})
    return rows


def ceiling_lines(roof: Roofline, data: dict[str, Any], points: int = 41) -> list[tuple[str, list[tuple[float, float]]]]:
    """The lines a roofline chart draws under its op points: the roof (DRAM diagonal up to the
    peak), the LLC roof when it is above DRAM, the derived peak when known, and the ridge as a
    vertical from below the slowest op to the peak. `data` is `measure_machine`'s result."""
    lo, hi = X_RANGE
    curve = roof.curve(lo, hi, points)
    lines = [(ROOF, curve)]
    llc = data["bandwidth"].get("llc_gbs")
    if llc and llc > roof.bandwidth_gbs:
        lines.append((LLC_ROOF, [(x, min(roof.peak_gflops, x * llc)) for x, _ in curve]))
    derived = data["peak"].get("derived_gflops")
    if derived:
        lines.append((DERIVED, [(lo, derived), (hi, derived)]))
    ys = [k["gflops"] for k in data["kernels"] if k["gflops"] > 0] + [roof.peak_gflops]
    lines.append((RIDGE, [(roof.ridge, min(ys) / 2), (roof.ridge, roof.peak_gflops)]))
    return lines


# ---- built-in kernels -------------------------------------------------------------------

def kernel_scale_copy(n: int = 1 << 26, min_time_s: float = 0.2) -> OpPoint:
    """dst = 1.0 * src: a copy with one FLOP per element (a pure copy has no FLOPs to plot)."""
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    t = time_call(lambda: np.multiply(src, np.float32(1.0), out=dst), min_time_s=min_time_s, batches=3)
    return OpPoint("copy (x1.0)", n, 8.0 * n, t.best_s, "phase-01")


def kernel_add(n: int = 1 << 26, min_time_s: float = 0.2) -> OpPoint:
    """z = x + y: 1 FLOP per 12 bytes."""
    x = np.ones(n, np.float32)
    y = np.ones(n, np.float32)
    z = np.empty_like(x)
    t = time_call(lambda: np.add(x, y, out=z), min_time_s=min_time_s, batches=3)
    return OpPoint("add z=x+y", n, 12.0 * n, t.best_s, "phase-01")


def kernel_dot(n: int = 1_000_000, min_time_s: float = 0.2) -> OpPoint:
    """np.dot of two length-n float32 vectors: 2n FLOPs over 8n bytes (I = 0.25)."""
    rng = np.random.default_rng(0)
    x = rng.random(n, dtype=np.float32)
    y = rng.random(n, dtype=np.float32)
    t = time_call(lambda: np.dot(x, y), min_time_s=min_time_s)
    return OpPoint(f"np.dot n={n:.0e}", 2.0 * n, 8.0 * n, t.best_s, "phase-01")


def kernel_naive_matmul(n: int = 128) -> OpPoint:
    """Pure-Python triple loop. Bytes as the course counts them: two fp32 loads per multiply-add."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    t = time_call(lambda: matmul_naive(a, b), min_time_s=0.0, batches=1)
    return OpPoint(f"naive Python matmul N={n}", 2.0 * n**3, 8.0 * n**3, t.best_s, "phase-01")


def kernel_numpy_matmul(n: int = 1024, min_time_s: float = 0.2) -> OpPoint:
    """np.matmul: compulsory traffic only (read A, B, write C), so I = 2N^3 / 12N^2 = N/6."""
    row = peak.matmul_gflops(n, min_time_s)
    return OpPoint(f"np.matmul N={n}", row["flops"], row["bytes"], row["seconds"], "phase-01")


def kernel_elementwise(n: int = 2048, min_time_s: float = 0.05) -> OpPoint:
    """c = a*a + a in L1: 2 FLOPs; two ufunc passes move ~20 bytes per element."""
    g = peak.elementwise_gflops(n, min_time_s)
    seconds = 2.0 * n / (g * 1e9)
    return OpPoint("a*a+a (L1)", 2.0 * n, 20.0 * n, seconds, "phase-01")


def measure_kernels(quick: bool = False) -> list[OpPoint]:
    s = 0.05 if quick else 0.2
    big = 1 << (24 if quick else 26)
    pts = [
        kernel_scale_copy(big, s),
        kernel_add(big, s),
        kernel_dot(1_000_000, s),
        kernel_elementwise(2048, s / 2),
        kernel_naive_matmul(48 if quick else 128),
        kernel_numpy_matmul(512 if quick else 1024, s),
    ]
    for fn in _PROBES.values():
        pts.append(fn())
    return pts + registered_ops()


def measure_machine(quick: bool = False, with_gpu: bool = True) -> dict[str, Any]:
    """Profile, both ceilings (measured and derived), the kernel points. Plain JSON values."""
    prof = machine_profile()
    llc = last_level_cache_bytes(prof)
    top = bandwidth.ram_safe_max_bytes(prof.get("ram_available_gb"), cap_bytes=(256 if quick else 1024) * 1024**2)
    top = max(top, min(8 * llc, 1024**3))
    sizes = bandwidth.size_grid(1024, top, factor=4 if quick else 2)
    rows = bandwidth.sweep(sizes, min_time_s=0.02 if quick else 0.1)
    beta = bandwidth.dram_bandwidth(rows, llc)
    l2 = sorted(c["size_bytes"] for c in prof["caches"] if c.get("size_bytes"))[-2:-1] or [llc // 16]
    l3 = bandwidth.plateau(rows, 2 * l2[0], llc // 2)
    pk = peak.measured_peak((256, 512, 1024) if quick else (512, 1024, 2048), min_time_s=0.1 if quick else 0.3)
    kernels = measure_kernels(quick)
    # The ceiling is the best GEMM seen in this run: on a shared box one probe can land in a busy moment.
    gemm = [k.gflops for k in kernels if k.name.startswith("np.matmul")]
    if gemm and max(gemm) > pk["gflops"]:
        pk["gflops"] = max(gemm)
    roof = Roofline(float(pk["gflops"]), beta)
    out: dict[str, Any] = {
        "profile": prof,
        "bandwidth": {"rows": rows, "dram_gbs": beta, "derived_gbs": derived_dram_gbs(prof),
                      "llc_gbs": l3},
        "peak": {"gflops": pk["gflops"], "at_n": pk["at_n"], "rows": pk["rows"], "derived_gflops": derived_peak_gflops(prof)},
        "ridge": roof.ridge,
        "kernels": [dict(k.as_dict(), bound=roof.bound(k.intensity), attainable=roof.attainable(k.intensity)) for k in kernels],
        "gpu": None,
    }
    if with_gpu:
        from engine.systems.hardware.gpu import measure_gpu

        out["gpu"] = measure_gpu(quick=quick)
    return out


def closed_form_error(roof: Roofline, lo: float = 0.05, hi: float = 1000.0, points: int = 25) -> float:
    """Largest relative gap between the roof's curve and ridge and their closed forms: ridge = peak /
    bandwidth, attainable(I) = the smaller of peak and I x bandwidth."""
    pi, bw = roof.peak_gflops, roof.bandwidth_gbs
    gaps = [abs(y - min(pi, x * bw)) / min(pi, x * bw) for x, y in roof.curve(lo, hi, points)]
    return max([*gaps, abs(roof.ridge - pi / bw) / (pi / bw)])
