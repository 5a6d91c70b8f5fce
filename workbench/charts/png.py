"""Render a chart spec to PNG with matplotlib (headless Agg backend).

Same spec, same series and the same axis decision as the terminal renderer (`spec.effective`:
log only where asked and the data spans more than a decade); 1-2-5 ticks on linear axes, the
legend outside the axes, a dashed line at an injected fault, point labels that never overlap.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from workbench.charts.spec import Mark, bar_groups, drawing_order, effective, series
from workbench.content.schema import Chart

# pyplot and its mathtext parser are not thread-safe; the TUI finishes runs on worker threads
# (a lab and its break side by side can end together), so one figure is drawn at a time.
_LOCK = threading.Lock()


def render_png(chart: Chart, records: list[dict[str, Any]], path: Path, title_suffix: str = "",
               marks: list[Mark] | None = None) -> bool:
    """Draw `chart` from `records` into `path`. Returns False (and writes nothing) when no data fits.

    `title_suffix` says what the run was (see `spec.caption`); `marks` are injected-fault lines.
    """
    chart = effective(chart, records)
    data = series(chart, records)
    if not data:
        return False
    with _LOCK:
        return _draw(chart, data, path, title_suffix, marks or [])


def _draw(chart: Chart, data: list[Any], path: Path, title_suffix: str, marks: list[Mark]) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7.6, 4.2), dpi=110)
    labelled: list[tuple[float, float, str]] = []
    for s in drawing_order(data):
        if s.kind == "scatter":
            ax.scatter(s.x, s.y, label=s.name, s=24, zorder=3)
            labelled += [(x, y, t) for x, y, t in zip(s.x, s.y, s.labels, strict=False) if t]
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
        ax.set_xticks(
            range(len(categories)),
            categories,
            rotation=45 if len(categories) > 8 else 0,
            ha="right" if len(categories) > 8 else "center",
            fontsize=7 if len(categories) > 8 else 9,
        )
    if chart.logx and not bars:
        ax.set_xscale("log")
    elif not bars:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    if chart.logy:
        ax.set_yscale("log")
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    for m in marks:
        if not bars:
            ax.axvline(m.x, color="crimson", linestyle="--", linewidth=1.1, label=m.label, zorder=2)
    ax.set_title(chart.title + title_suffix, fontsize=10)
    ax.set_xlabel(chart.xlabel or chart.x)
    ax.set_ylabel(chart.ylabel or ", ".join(chart.y))
    ax.grid(True, alpha=0.3, which="both")
    if len(data) > 1 or chart.series_by or marks:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    _annotate(fig, ax, labelled)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return True


def _annotate(fig: Any, ax: Any, labelled: list[tuple[float, float, str]]) -> None:
    """Point labels placed where they overlap no earlier label (right, above, below, left of the
    point); a label with no free spot is left out rather than printed over another."""
    renderer = fig.canvas.get_renderer()
    taken: list[Any] = []
    for x, y, text in sorted(labelled, key=lambda p: -p[1]):
        for dx, dy, ha in ((4, 3, "left"), (4, -10, "left"), (-4, 3, "right"), (-4, -10, "right"), (0, 8, "center")):
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7, ha=ha)
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(t) for t in taken):
                taken.append(box)
                break
            ann.remove()
