"""Render a chart spec with plotext: the module itself (CLI) or a PlotextPlot widget's `plt` (TUI).

Without colour (NO_COLOR), overlaid series would differ only by their legend entry, so each
series then gets its own marker character (the legend shows it).
"""

from __future__ import annotations

import math
from typing import Any

from workbench.charts.spec import Series, bar_groups, drawing_order, series, thin
from workbench.content.schema import Chart

MAX_POINTS = 400
COLOR_MARKER: dict[str, str | None] = {"line": "braille"}  # scatter, bar: plotext's default
MONO_MARKERS = ("braille", "x", "+", "o", "*", "#", "%", "@", "=", "$")


def marker(s: Series, index: int, color: bool) -> str | None:
    """The plotext marker for the `index`-th series: by kind in colour, one of its own without."""
    if color:
        return COLOR_MARKER.get(s.kind)
    return MONO_MARKERS[index % len(MONO_MARKERS)]


def _label_nudge(data: list[Series], logx: bool) -> float:
    """About two columns of the x range: how far right of its point a label starts."""
    xs = [math.log10(x) if logx else x for s in data if s.kind != "bar" for x in s.x]
    return 0.025 * (max(xs) - min(xs)) if len(xs) > 1 else 0.0


def draw(plt: Any, chart: Chart, records: list[dict[str, Any]], *, color: bool = True) -> int:
    """Clear `plt` and draw the chart. Returns the number of points drawn."""
    plt.clear_figure() if hasattr(plt, "clear_figure") else plt.clear_data()
    if not color and hasattr(plt, "theme"):
        plt.theme("clear")  # before the series: their colours come from the theme
    data = drawing_order([thin(s, MAX_POINTS) for s in series(chart, records)])
    # plotext's own log axes mishandle some ranges; plot log10 values with readable ticks instead.
    points = 0
    nudge = _label_nudge(data, chart.logx)
    for i, s in enumerate(data):
        xs = [math.log10(x) for x in s.x] if chart.logx and s.kind != "bar" else s.x
        ys = [math.log10(y) for y in s.y] if chart.logy else s.y
        mark = marker(s, i, color)
        if s.kind == "scatter":
            plt.scatter(xs, ys, label=s.name, marker=mark)
            for x, y, text in zip(xs, ys, s.labels, strict=False):
                if text:
                    plt.text(text, x + nudge, y)  # beside the point, not over its marker
        elif s.kind == "bar":
            continue  # drawn together below, grouped
        else:
            plt.plot(xs, ys, label=s.name, marker=mark)
        points += len(s.x)
    categories, bars = bar_groups(data)
    if len(bars) == 1:
        ys = [math.log10(y) if chart.logy and y > 0 else y for y in bars[0].y]
        plt.bar(categories, ys, label=bars[0].name, marker=marker(bars[0], 0, color))
    elif bars:
        heights = [[math.log10(y) if chart.logy and y > 0 else y for y in b.y] for b in bars]
        marks = [marker(b, i, color) or "sd" for i, b in enumerate(bars)]
        plt.multiple_bar(categories, heights, labels=[b.name for b in bars], marker=marks)
    points += sum(len(b.x) for b in bars)
    plt.title(chart.title)
    plt.xlabel((chart.xlabel or chart.x) + (" (log)" if chart.logx else ""))
    plt.ylabel((chart.ylabel or ", ".join(chart.y)) + (" (log)" if chart.logy else ""))
    if chart.logx and chart.kind != "bar" and data:
        plt.xticks(*log_ticks([math.log10(x) for s in data if s.kind != "bar" for x in s.x]))
    if chart.logy and data:
        plt.yticks(*log_ticks([math.log10(y) for s in data for y in s.y if y > 0]))
    return points


def log_ticks(logs: list[float], most: int = 6) -> tuple[list[float], list[str]]:
    """Tick positions (log10 units) labelled in real units: 0.001, 0.01, 0.1, 1, 10, 1e+03."""
    if not logs:
        return [], []
    lo, hi = min(logs), max(logs)
    decades = list(range(math.ceil(lo), math.floor(hi) + 1))
    step = max(1, math.ceil(len(decades) / most))
    positions = [float(p) for p in decades[::step]]
    if len(positions) < 2:  # under two decades in range: evenly spaced ticks between the ends
        positions = [lo + (hi - lo) * i / 4 for i in range(5)] if hi > lo else [lo]
    return positions, [f"{10**p:.3g}" for p in positions]
