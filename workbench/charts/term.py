"""Render a chart spec with plotext: the module itself (CLI) or a PlotextPlot widget's `plt` (TUI)."""

from __future__ import annotations

import math
from typing import Any

from workbench.charts.spec import series, thin
from workbench.content.schema import Chart

MAX_POINTS = 400


def draw(plt: Any, chart: Chart, records: list[dict[str, Any]], *, color: bool = True) -> int:
    """Clear `plt` and draw the chart. Returns the number of points drawn."""
    plt.clear_figure() if hasattr(plt, "clear_figure") else plt.clear_data()
    data = [thin(s, MAX_POINTS) for s in series(chart, records)]
    # plotext's own log axes mishandle some ranges; plot log10 values with readable ticks instead.
    points = 0
    for s in data:
        xs = [math.log10(x) for x in s.x] if chart.logx else s.x
        ys = [math.log10(y) for y in s.y] if chart.logy else s.y
        if chart.kind == "scatter":
            plt.scatter(xs, ys, label=s.name)
            for x, y, text in zip(xs, ys, s.labels, strict=False):
                if text:
                    plt.text(text, x, y)
        elif chart.kind == "bar":
            plt.bar([str(x) for x in s.x], ys, label=s.name)
        else:
            plt.plot(xs, ys, label=s.name, marker="braille")
        points += len(s.x)
    plt.title(chart.title)
    plt.xlabel(("log10 " if chart.logx else "") + (chart.xlabel or chart.x))
    plt.ylabel(("log10 " if chart.logy else "") + (chart.ylabel or ", ".join(chart.y)))
    if not color and hasattr(plt, "theme"):
        plt.theme("clear")
    return points
