"""Matplotlib rendering of the copy-bandwidth sweep (a PNG artifact). Headless: Agg backend.

The roofline is not drawn here: phase-01 lab-03 logs its ceilings and points and its YAML
chart draws them through workbench/charts, as `workbench roofline` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
