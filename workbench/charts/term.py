"""Render a chart spec with plotext: the module itself (CLI) or a PlotextPlot widget's `plt` (TUI).

The legend is returned, not drawn: plotext puts it inside the canvas, over the data, so the
caller shows it beside the chart (the TUI in the chart's border, the CLI under the plot).
Ticks are ours, at 1-2-5 steps (plotext's own read `74.8/149.5/224.2`). Without colour
(NO_COLOR), each series gets its own marker character, which the legend shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from workbench.charts.spec import (
    Mark,
    Series,
    bar_groups,
    drawing_order,
    effective,
    log_ticks,
    nice_step,
    nice_ticks,
    series,
    thin,
    tick_label,
)
from workbench.content.schema import Chart

MAX_POINTS = 400
COLOR_MARKER: dict[str, str | None] = {"line": "braille"}  # scatter, bar: plotext's default
MONO_MARKERS = ("braille", "x", "+", "o", "*", "#", "%", "@", "=", "$")
# plotext colour -> the same colour in Rich markup, so the legend outside the plot matches it
PALETTE = (("blue+", "bright_blue"), ("red+", "bright_red"), ("green+", "bright_green"), ("cyan+", "bright_cyan"),
           ("magenta+", "bright_magenta"), ("yellow", "yellow"), ("gray", "grey50"), ("blue", "blue"))
MARK_COLOR = "red"
SIZE = (100, 28)


@dataclass
class Drawn:
    """What `draw` put on the canvas: the point count and the legend entries (markup, name)."""

    points: int = 0
    legend: list[tuple[str, str]] = field(default_factory=list)
    dropped_labels: int = 0

    def legend_markup(self) -> str:
        return "  ".join(f"{key} {name}" for key, name in self.legend)


def marker(s: Series, index: int, color: bool) -> str | None:
    """The plotext marker for the `index`-th series: by kind in colour, one of its own without."""
    if color:
        return COLOR_MARKER.get(s.kind)
    return MONO_MARKERS[index % len(MONO_MARKERS)]


def _swatch(index: int, mark: str | None, color: bool) -> str:
    if color:
        return f"[{PALETTE[index % len(PALETTE)][1]}]━━[/]"
    return "⣿" if mark in (None, "braille") else (mark or "•")


def draw(plt: Any, chart: Chart, records: list[dict[str, Any]], *, color: bool = True,
         marks: list[Mark] | None = None, size: tuple[int, int] = SIZE) -> Drawn:
    """Clear `plt` and draw the chart (its legend returned, not drawn). `size` is the canvas in cells."""
    plt.clear_figure() if hasattr(plt, "clear_figure") else plt.clear_data()
    if not color and hasattr(plt, "theme"):
        plt.theme("clear")  # before the series: their colours come from the theme
    chart = effective(chart, records)
    data = drawing_order([thin(s, MAX_POINTS) for s in series(chart, records)])
    out = Drawn()
    # plotext's own log axes mishandle some ranges; plot log10 values with our ticks instead.
    tx = (lambda v: math.log10(v)) if chart.logx else (lambda v: v)
    ty = (lambda v: math.log10(v)) if chart.logy else (lambda v: v)
    placed: list[tuple[int, int, int]] = []
    frame = _frame(data, chart, tx, ty)
    for i, s in enumerate(data):
        if s.kind == "bar":
            continue  # drawn together below, grouped
        xs, ys = [tx(x) for x in s.x], [ty(y) for y in s.y]
        mark, colour = marker(s, i, color), (PALETTE[i % len(PALETTE)][0] if color else None)
        if s.kind == "scatter":
            plt.scatter(xs, ys, marker=mark, color=colour)
            out.dropped_labels += _labels(plt, xs, ys, s.labels, frame, size, placed)
        else:
            plt.plot(xs, ys, marker=mark, color=colour)
        out.legend.append((_swatch(i, mark, color), s.name))
        out.points += len(s.x)
    categories, bars = bar_groups(data)
    if bars:
        heights = [[ty(y) if not chart.logy or y > 0 else 0.0 for y in b.y] for b in bars]
        marks_ = [marker(b, i, color) or "sd" for i, b in enumerate(bars)]
        colours = [PALETTE[i % len(PALETTE)][0] for i in range(len(bars))] if color else None
        if len(bars) == 1:
            plt.bar(categories, heights[0], marker=marks_[0], color=colours[0] if colours else None)
        else:
            plt.multiple_bar(categories, heights, marker=marks_, color=colours)
        out.legend += [(_swatch(i, marks_[i], color), b.name) for i, b in enumerate(bars)]
        out.points += sum(len(b.x) for b in bars)
    for m in marks or []:
        if chart.kind != "bar" and (not chart.logx or m.x > 0):
            plt.vertical_line(tx(m.x), color=MARK_COLOR if color else None)
            if frame:
                plt.text(m.label, tx(m.x), frame[3], color=MARK_COLOR if color else None, alignment="left")
            out.legend.append(("[red]│[/]" if color else "│", m.label))
    plt.title(chart.title)
    plt.xlabel((chart.xlabel or chart.x) + (" (log)" if chart.logx else ""))
    plt.ylabel((chart.ylabel or ", ".join(chart.y)) + (" (log)" if chart.logy else ""))
    if len(out.legend) < 2 and not marks:
        out.legend = []  # one series: the title and axis labels already say what it is
    _ticks(plt, chart, data, bars, size)
    return out


def _frame(data: list[Series], chart: Chart, tx: Any, ty: Any) -> tuple[float, float, float, float] | None:
    """(x min, x max, y min, y max) of the drawn points, in plotted (maybe log10) units."""
    xs = [tx(x) for s in data if s.kind != "bar" for x in s.x]
    ys = [ty(y) for s in data for y in s.y if not chart.logy or y > 0]
    if not xs or not ys:
        return None
    return min(xs), max(xs), min(ys), max(ys)


def _labels(plt: Any, xs: list[float], ys: list[float], labels: list[str],
            frame: tuple[float, float, float, float] | None, size: tuple[int, int],
            placed: list[tuple[int, int, int]]) -> int:
    """Point labels that never overprint: each takes the first free row at, above or below its point,
    right of it (left where it would run off the canvas); one with no free spot is dropped (the
    table beside a scatter lists every point). Returns how many were dropped."""
    if frame is None:
        return 0
    x0, x1, y0, y1 = frame
    width, height = max(20, size[0] - 10), max(6, size[1] - 6)
    dropped = 0
    for x, y, text in sorted(zip(xs, ys, labels, strict=False), key=lambda p: (-p[1], p[0])):
        if not text:
            continue
        col = round((x - x0) / (x1 - x0) * width) if x1 > x0 else 0
        row = round((y - y0) / (y1 - y0) * height) if y1 > y0 else 0
        for drow in (0, 1, -1, 2, -2):
            start = col + 2 if col + 2 + len(text) <= width else col - 1 - len(text)
            span = (row + drow, max(0, start), max(0, start) + len(text))
            if not any(r == span[0] and a < span[2] + 1 and span[1] < b + 1 for r, a, b in placed):
                placed.append(span)
                px = x0 + (span[1] / width) * (x1 - x0) if x1 > x0 else x
                py = y0 + (span[0] / height) * (y1 - y0) if y1 > y0 else y
                plt.text(text, px, py, alignment="left")
                break
        else:
            dropped += 1
    return dropped


def _ticks(plt: Any, chart: Chart, data: list[Series], bars: list[Series], size: tuple[int, int]) -> None:
    xs = [x for s in data if s.kind != "bar" for x in s.x]
    ys = [y for s in data for y in s.y if not chart.logy or y > 0] + [y for b in bars for y in b.y]
    if xs and not bars:
        plt.xticks(*_axis(xs, chart.logx, most=max(2, min(6, size[0] // 14))))
    if ys:
        plt.yticks(*_axis(ys, chart.logy, most=max(2, min(6, size[1] // 4))))


def _axis(values: list[float], log: bool, most: int) -> tuple[list[float], list[str]]:
    """Tick positions (in plotted units) and their labels in data units."""
    lo, hi = min(values), max(values)
    if log:
        ticks = log_ticks(lo, hi, most)
        return [math.log10(t) for t in ticks], [tick_label(t) for t in ticks]
    ticks = nice_ticks(lo, hi, most)
    step = nice_step(hi - lo, most) if hi > lo else None
    return ticks, [tick_label(t, step) for t in ticks]

