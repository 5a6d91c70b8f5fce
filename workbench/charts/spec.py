"""From a chart spec and metric records to plain series: the part both renderers share."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from workbench.content.schema import Chart


@dataclass
class Series:
    name: str
    x: list[Any] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    kind: str = "line"  # line | scatter | bar: the chart's kind, or "line" for a group in `chart.lines`


def _usable(value: Any, log: bool) -> TypeGuard[int | float]:
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
    return Series(
        s.name, [s.x[i] for i in idx], [s.y[i] for i in idx], [s.labels[i] for i in idx] if s.labels else [], s.kind
    )


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


# ---------------------------------------------------------------- axes both renderers share


@dataclass(frozen=True)
class Mark:
    """A vertical marker at `x` (e.g. the step a fault is injected), with a short label."""

    x: float
    label: str


def effective(chart: Chart, records: list[dict[str, Any]]) -> Chart:
    """The chart as drawn: a log axis only where the spec asks for it AND its positive values
    span more than one decade (a 22-26 loss range reads better on a linear axis)."""
    logx = chart.logx and chart.kind != "bar" and _spans_decade(records, chart, [chart.x])
    logy = chart.logy and _spans_decade(records, chart, chart.y)
    if (logx, logy) == (chart.logx, chart.logy):
        return chart
    return dataclasses.replace(chart, logx=logx, logy=logy)


def _spans_decade(records: list[dict[str, Any]], chart: Chart, keys: list[str]) -> bool:
    lo, hi = math.inf, 0.0
    for row in records:
        if any(row.get(k) != v for k, v in chart.where.items()):
            continue
        for key in keys:
            v = row.get(key)
            if _usable(v, True):
                lo, hi = min(lo, v), max(hi, v)
    return hi > 0 and lo < math.inf and hi / lo > 10.0


def nice_step(span: float, most: int = 6) -> float:
    """The smallest 1, 2 or 5 × 10^k step that cuts `span` into at most `most` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, most)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10.0 * power


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Ticks at multiples of a 1-2-5 step inside [lo, hi] (one tick when the range is a point)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    step = nice_step(hi - lo, most)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(0.0 if abs(k * step) < step * 1e-9 else k * step)
        k += 1
    return ticks


def tick_label(value: float, step: float | None = None) -> str:
    """As many decimals as the tick step needs (`0.5`, `20`); `2.22e-16` for tiny or huge values."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.3g}"
    if step is None:
        return f"{value:.4g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def log_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Log-axis ticks in data units: decades, thinned to `most`; 1-2-5 inside when under two decades."""
    if lo <= 0 or hi <= lo:
        return [lo] if lo > 0 else []
    a, b = math.log10(lo), math.log10(hi)
    decades = [10.0**p for p in range(math.ceil(a - 1e-9), math.floor(b + 1e-9) + 1)]
    if len(decades) >= 2:
        step = max(1, math.ceil(len(decades) / most))
        return decades[::step]
    out = []
    for p in range(math.floor(a), math.ceil(b) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**p
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                out.append(v)
    return out


def caption(title: str, what: str | None = None, status: str | None = None) -> str:
    """A title that says what the run was: `loss · phase-19/break-00 (break) · cancelled`."""
    parts = [title] + [p for p in (what, status if status not in (None, "passed", "running") else None) if p]
    return " · ".join(parts)


def marks_for(chart: Chart, config: dict[str, Any] | None, label: str = "fault") -> list[Mark]:
    """The chart's fault marker: `chart.mark` names the config key whose value is its x."""
    if not chart.mark or not config:
        return []
    x = config.get(chart.mark)
    return [Mark(float(x), f"{label} @ {x:g}")] if _usable(x, False) else []
