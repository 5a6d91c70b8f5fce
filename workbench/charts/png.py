"""Render a chart spec to PNG with matplotlib (headless Agg backend)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from workbench.charts.spec import bar_groups, drawing_order, series
from workbench.content.schema import Chart

# pyplot and its mathtext parser are not thread-safe; the TUI finishes runs on worker threads
# (a lab and its break side by side can end together), so one figure is drawn at a time.
_LOCK = threading.Lock()


def render_png(chart: Chart, records: list[dict[str, Any]], path: Path, title_suffix: str = "") -> bool:
    """Draw `chart` from `records` into `path`. Returns False (and writes nothing) when no data fits."""
    data = series(chart, records)
    if not data:
        return False
    with _LOCK:
        return _draw(chart, data, path, title_suffix)


def _draw(chart: Chart, data: list[Any], path: Path, title_suffix: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for s in drawing_order(data):
        if s.kind == "scatter":
            ax.scatter(s.x, s.y, label=s.name, s=24, zorder=3)
            for i, (x, y, text) in enumerate(zip(s.x, s.y, s.labels, strict=False)):
                if text:  # alternate above/below so neighbouring labels overlap less
                    ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4 if i % 2 == 0 else -10), fontsize=7)
        elif s.kind == "bar":
            continue  # grouped below
        else:
            ax.plot(s.x, s.y, label=s.name, linewidth=1.4, marker="o" if len(s.x) < 30 else None, markersize=3)
    categories, bars = bar_groups(data)
    width = 0.8 / max(1, len(bars))
    for i, b in enumerate(bars):
        offsets = [j - 0.4 + width * (i + 0.5) for j in range(len(categories))]
        ax.bar(offsets, b.y, width=width, label=b.name, alpha=0.85)
    if bars:
        ax.set_xticks(range(len(categories)), categories, rotation=45 if len(categories) > 8 else 0, ha="right" if len(categories) > 8 else "center", fontsize=7 if len(categories) > 8 else 9)
    if chart.logx and not bars:
        ax.set_xscale("log")
    if chart.logy:
        ax.set_yscale("log")
    ax.set_title(chart.title + title_suffix)
    ax.set_xlabel(chart.xlabel or chart.x)
    ax.set_ylabel(chart.ylabel or ", ".join(chart.y))
    ax.grid(True, alpha=0.3, which="both")
    if len(data) > 1 or chart.series_by:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return True
