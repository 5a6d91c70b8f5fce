"""Matplotlib renderings of the hardware measurements (PNG artifacts). Headless: Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from engine.hardware.roofline import Roofline  # noqa: E402


def plot_roofline(data: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Log-log roofline: bandwidth diagonal, peak ceiling, ridge annotation, labelled kernel dots."""
    roof = Roofline(data["peak"]["gflops"], data["bandwidth"]["dram_gbs"])
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    xs, ys = zip(*roof.curve(0.01, 1000.0, 200), strict=True)
    ax.plot(xs, ys, color="black", lw=2, label=f"measured roof: {roof.bandwidth_gbs:.1f} GB/s, {roof.peak_gflops:.0f} GFLOP/s")
    llc = data["bandwidth"].get("llc_gbs")
    if llc:
        ax.plot(xs, [min(roof.peak_gflops, x * llc) for x in xs], color="gray", lw=1, ls=":", label=f"LLC roof {llc:.0f} GB/s")
    derived = data["peak"].get("derived_gflops")
    if derived:
        ax.axhline(derived, color="tab:orange", ls="--", lw=1, label=f"derived peak {derived:.0f} GFLOP/s")
    ax.axvline(roof.ridge, color="tab:red", ls=":", lw=1)
    ax.annotate(f"ridge I* = {roof.ridge:.1f} FLOP/B", (roof.ridge, roof.peak_gflops), textcoords="offset points",
                xytext=(8, -18), color="tab:red")
    for i, k in enumerate(data["kernels"]):
        ax.scatter(k["intensity"], k["gflops"], s=30, zorder=3)
        ax.annotate(k["name"], (k["intensity"], k["gflops"]), textcoords="offset points",
                    xytext=(5, 4 if i % 2 == 0 else -11), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(0.01, 1000)
    lo = min([k["gflops"] for k in data["kernels"]] + [0.1])
    ax.set_ylim(lo / 2, 1.5 * max(roof.peak_gflops, derived or 0))
    ax.set_xlabel("arithmetic intensity (FLOPs / byte)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title(title or f"Roofline: {data['profile'].get('cpu_model', 'this machine')}, fp32")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_bandwidth(rows: list[dict[str, float]], caches: list[dict[str, Any]], dram_gbs: float, path: str | Path) -> Path:
    """Copy bandwidth vs buffer size (log x), cache sizes as verticals, the DRAM ceiling dashed."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    ax.plot([r["bytes"] / 1024 for r in rows], [r["gbs"] for r in rows], marker="o")
    for c in caches:
        if c.get("size_bytes"):
            ax.axvline(c["size_bytes"] / 1024, ls="--", color="gray", lw=1)
            ax.text(c["size_bytes"] / 1024, ax.get_ylim()[1] * 0.95, f" L{c['level']}", color="gray")
    ax.axhline(dram_gbs, ls="--", color="tab:red", lw=1, label=f"DRAM {dram_gbs:.1f} GB/s")
    ax.set_xscale("log")
    ax.set_xlabel("buffer size (KiB)")
    ax.set_ylabel("copy throughput (GB/s)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
