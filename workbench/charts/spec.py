"""From a chart spec and metric records to plain series: the part both renderers share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from workbench.content.schema import Chart


@dataclass
class Series:
    name: str
    x: list[Any] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    kind: str = "line"  # line | scatter | bar: the chart's kind, or "line" for a group in `chart.lines`


def _usable(value: Any, log: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and (not log or value > 0)


def series(chart: Chart, records: list[dict[str, Any]]) -> list[Series]:
    """One series per (y key × series_by value), keeping only points a log axis can show.

    A series whose series_by value is in `chart.lines` is a line even on a scatter chart, so
    both renderers draw e.g. a roofline's ceilings as lines under its labelled points.
    """
    out: dict[str, Series] = {}
    for row in records:
        if any(row.get(k) != v for k, v in chart.where.items()):
            continue
        x = row.get(chart.x)
        if x is None or (chart.kind != "bar" and not _usable(x, chart.logx)):
            continue
        group = str(row.get(chart.series_by, "")) if chart.series_by else ""
        for key in chart.y:
            y = row.get(key)
            if not _usable(y, chart.logy):
                continue
            name = " · ".join(p for p in (group, key if len(chart.y) > 1 or not group else "") if p) or key
            s = out.get(name)
            if s is None:
                s = out[name] = Series(name, kind="line" if group and group in chart.lines else chart.kind)
            s.x.append(x)
            s.y.append(float(y))
            if chart.label:
                s.labels.append(str(row.get(chart.label, "")))
    return list(out.values())


def thin(s: Series, max_points: int) -> Series:
    """Every k-th point (plus the last), so a terminal chart of 100k steps stays cheap."""
    n = len(s.x)
    if n <= max_points:
        return s
    step = math.ceil(n / max_points)
    idx = list(range(0, n, step))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return Series(s.name, [s.x[i] for i in idx], [s.y[i] for i in idx], [s.labels[i] for i in idx] if s.labels else [], s.kind)


def drawing_order(data: list[Series]) -> list[Series]:
    """Lines first, then points and bars, so labelled points are drawn on top of the lines."""
    return sorted(data, key=lambda s: s.kind != "line")


def bar_groups(data: list[Series]) -> tuple[list[str], list[Series]]:
    """Bar series aligned on one shared category axis (0 where a series lacks a category),
    so both renderers draw several bar series side by side instead of on top of each other."""
    bars = [s for s in data if s.kind == "bar"]
    categories: list[str] = []
    for s in bars:
        categories += [str(x) for x in s.x if str(x) not in categories]
    aligned = []
    for s in bars:
        by_cat = {str(x): y for x, y in zip(s.x, s.y, strict=True)}
        aligned.append(Series(s.name, list(categories), [by_cat.get(c, 0.0) for c in categories], kind="bar"))
    return categories, aligned
