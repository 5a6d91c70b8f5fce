"""Plotext charts for one chart spec each, in a grid, redrawn at a bounded rate.

A `ChartView` draws its spec from a record source when Textual renders it. The grid's
`tick()` asks for a redraw only when the data changed and enough time has passed: at
least 0.1 s (≤10 Hz), and longer when drawing itself is slow (the interval stays ≥3×
the last draw time), so a fast lab never starves key handling.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from rich.console import RenderableType
from textual.containers import Grid
from textual_plotext import PlotextPlot

from workbench.charts.term import draw
from workbench.content.schema import Chart

Records = Callable[[], list[dict[str, Any]]]
MIN_INTERVAL = 0.1


class ChartView(PlotextPlot):
    def __init__(self, chart: Chart, source: Records, *, mono: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chart, self.source, self.mono = chart, source, mono
        self.cost = 0.0
        self.points = 0
        self.border_title = chart.title
        if mono:
            self.theme = "clear"

    def render(self) -> RenderableType:
        t0 = time.perf_counter()
        self.points = draw(self.plt, self.chart, self.source(), color=not self.mono)
        out = super().render()
        self.cost = time.perf_counter() - t0
        return out


class ChartGrid(Grid):
    """One ChartView per spec (one record source for all, or one each); two columns when there is room."""

    DEFAULT_CSS = """
    ChartGrid { grid-size: 1; grid-gutter: 0 1; height: 1fr; }
    ChartGrid ChartView { height: 1fr; min-height: 8; }
    """

    def __init__(self, charts: list[Chart], source: Records | list[Records], *, mono: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.charts, self.mono = charts, mono
        self.sources = source if isinstance(source, list) else [source] * len(charts)
        self.last_draw = 0.0
        self.seen_version = -1
        self.redraws = 0

    def compose(self):  # type: ignore[no-untyped-def]
        for chart, source in zip(self.charts, self.sources, strict=True):
            yield ChartView(chart, source, mono=self.mono)

    def on_resize(self) -> None:
        cols = 2 if len(self.charts) > 1 and self.size.width >= 70 else 1
        self.styles.grid_size_columns = cols
        self.styles.grid_size_rows = max(1, math.ceil(len(self.charts) / cols))

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
            view.refresh()
        return True
