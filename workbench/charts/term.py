"""Render a chart spec with plotext: the module itself (CLI) or a PlotextPlot widget's `plt` (TUI).

Without colour (NO_COLOR), overlaid series would differ only by their legend entry, so each
series then gets its own marker character (the legend shows it).
"""

from __future__ import annotations

import math
from typing import Any

from workbench.charts.spec import Series, drawing_order, series, thin
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
            plt.bar([str(x) for x in s.x], ys, label=s.name, marker=mark)
        else:
            plt.plot(xs, ys, label=s.name, marker=mark)
        points += len(s.x)
    plt.title(chart.title)
    plt.xlabel(("log10 " if chart.logx else "") + (chart.xlabel or chart.x))
    plt.ylabel(("log10 " if chart.logy else "") + (chart.ylabel or ", ".join(chart.y)))
    return points
