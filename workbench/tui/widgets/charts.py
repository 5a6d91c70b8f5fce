"""Plotext charts for one chart spec each, in a grid, drawn off the UI thread at a bounded rate.

A `ChartView` keeps the last drawn text and returns it from `render()`, so painting costs
nothing. New data is drawn on a thread worker (series, ticks and plotext's canvas build are
the slow part: tens of ms for a long run) and handed back by message; the UI thread only
swaps the text in. The grid's `tick()` asks for a redraw only when the data changed and
enough time has passed: at least 0.25 s, and longer when drawing itself is slow (the
interval stays ≥3× the last draw time), so a lab streaming hundreds of events a second
never starves key handling. A size change (first paint, resize) is drawn at once, in line,
so a screen never shows a stale-sized chart.

The legend is drawn outside the plot (in the border), never over the data.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual_plotext import PlotextPlot

from workbench.charts.spec import Mark
from workbench.charts.term import draw
from workbench.content.schema import Chart

Records = Callable[[], list[dict[str, Any]]]
MIN_INTERVAL = 0.25
WAITING = "waiting for the first metric…"


class ChartView(PlotextPlot):
    class Drawn(Message):
        def __init__(self, view: ChartView, text: Text, size: tuple[int, int], legend: str, cost: float,
                     points: int) -> None:
            super().__init__()
            self.view, self.text, self.size, self.legend, self.cost, self.points = (
                view,
                text,
                size,
                legend,
                cost,
                points,
            )

    def __init__(self, chart: Chart, source: Records, *, mono: bool = False, marks: list[Mark] | None = None,
                 empty: str = WAITING, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chart, self.source, self.mono, self.marks, self.empty = chart, source, mono, marks or [], empty
        self.cost = 0.0
        self.points = 0
        self.draws = 0
        self.border_title = chart.title
        self.legend = ""
        self._text: Text | None = None
        self._text_size: tuple[int, int] = (0, 0)
        self._busy = threading.Lock()
        if mono:
            self.theme = "clear"

    def _theme_name(self) -> str:
        return self._get_plotext_theme_name(self.app.theme)

    def _draw_now(self, records: list[dict[str, Any]], size: tuple[int, int], theme: str) -> tuple[Text, str, int]:
        """The plot, with its legend on a line of its own below it (never over the data)."""
        plt = self._plot
        width, height = size
        drawn = draw(plt, self.chart, records, color=not self.mono, marks=self.marks, size=size)
        legend = drawn.legend_markup()
        plot_height = max(3, height - 1) if legend else height
        plt.plotsize(width, plot_height)
        plt._set_size(width, plot_height)
        plt.theme(theme)
        text = Text.from_ansi(plt.build())
        if legend:
            text.append("\n")
            line = Text.from_markup(legend)
            line.truncate(width, overflow="ellipsis")
            text.append_text(line)
        return text, legend, drawn.points

    def render(self) -> RenderableType:
        size = (self.size.width, self.size.height)
        records = self.source()
        if not records and not self.marks:
            return Text(f"{self.chart.title} — {self.empty}", style="dim")
        # a background draw owning the canvas means: show the last text, the draw brings the new one
        if (self._text is None or self._text_size != size) and self._busy.acquire(blocking=False):
            try:
                t0 = time.perf_counter()
                text, legend, self.points = self._draw_now(list(records), size, self._theme_name())
                self.cost = time.perf_counter() - t0
                self._set(text, size, legend)
            finally:
                self._busy.release()
        return self._text if self._text is not None else Text(f"{self.chart.title} — {self.empty}", style="dim")

    def _set(self, text: Text, size: tuple[int, int], legend: str) -> None:
        self._text, self._text_size = text, size
        self.draws += 1
        self.legend = legend

    def redraw(self) -> None:
        """Draw the current data on a worker thread; the result arrives as a `Drawn` message."""
        if not self.is_mounted or self.size.width <= 0 or self.size.height <= 0:
            return
        size, theme = (self.size.width, self.size.height), self._theme_name()

        def work() -> None:
            if not self._busy.acquire(blocking=False):
                return  # the previous draw is still going; the next tick catches up
            try:
                t0 = time.perf_counter()
                text, legend, points = self._draw_now(list(self.source()), size, theme)
                self.post_message(self.Drawn(self, text, size, legend, time.perf_counter() - t0, points))
            finally:
                self._busy.release()

        self.run_worker(work, thread=True, group=f"chart-{id(self)}", exit_on_error=False)

    def on_chart_view_drawn(self, message: Drawn) -> None:
        message.stop()
        self.cost, self.points = message.cost, message.points
        if message.size == (self.size.width, self.size.height):
            self._set(message.text, message.size, message.legend)
            self.refresh()


class ChartGrid(Grid):
    """One ChartView per spec (one record source for all, or one each); two columns when there is room."""


    def __init__(self, charts: list[Chart], source: Records | list[Records], *, mono: bool = False,
                 marks: list[Mark] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.charts, self.mono, self.marks = charts, mono, marks or []
        self.sources = source if isinstance(source, list) else [source] * len(charts)
        self.last_draw = 0.0
        self.seen_version = -1
        self.redraws = 0

    def compose(self) -> ComposeResult:
        for chart, source in zip(self.charts, self.sources, strict=True):
            yield ChartView(chart, source, mono=self.mono, marks=self.marks)

    def on_resize(self) -> None:
        cols = 2 if len(self.charts) > 1 and self.size.width >= 70 else 1
        rows = max(1, math.ceil(len(self.charts) / cols))
        if cols == 2 and self.size.height < 6 * rows:
            cols, rows = 1, len(self.charts)
        self.styles.grid_size_columns = cols
        self.styles.grid_size_rows = rows

    @property
    def views(self) -> list[ChartView]:
        return list(self.query(ChartView))

    @property
    def points(self) -> int:
        return sum(v.points for v in self.views)

    def interval(self) -> float:
        return max(MIN_INTERVAL, 3 * sum(v.cost for v in self.views))

    def tick(self, version: int, force: bool = False) -> bool:
        """Redraw if `version` moved on and the throttle allows; True when a redraw was asked."""
        now = time.monotonic()
        if version == self.seen_version and not force:
            return False
        if not force and now - self.last_draw < self.interval():
            return False
        self.seen_version, self.last_draw = version, now
        self.redraws += 1
        for view in self.views:
            view.redraw()
        return True
