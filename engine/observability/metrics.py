"""A small Prometheus-compatible metrics registry: counters, fixed-bucket histograms and gauges
that read their value at scrape time, rendered in the text exposition format.

Why not summaries: a summary's quantiles cannot be aggregated across processes; histogram buckets
can, and `Histogram.quantile` estimates any percentile from them the way histogram_quantile() does
(linear interpolation inside the bucket that holds the rank).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Sequence

# LLM latencies span 50 ms to 2 minutes; the buckets cover that range.
LLM_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{v}"' for n, v in zip(names, values, strict=True)] + ([extra] if extra else [])
    return "{" + ",".join(parts) + "}" if parts else ""


class _Family:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Family):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        with self._lock:
            self.values[labels] = self.values.get(labels, 0.0) + amount

    def render(self) -> list[str]:
        return self.header() + [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in sorted(self.values.items())]


class Histogram(_Family):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = (), buckets: Sequence[float] = LLM_BUCKETS_S) -> None:
        super().__init__(name, help_text, labels)
        self.bounds = tuple(sorted(buckets))
        self.series: dict[tuple[str, ...], list[float]] = {}  # per-bucket (non-cumulative) counts + [sum, count]

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            row = self.series.setdefault(labels, [0.0] * (len(self.bounds) + 3))
            row[bisect.bisect_left(self.bounds, value)] += 1  # le is inclusive
            row[-2] += value
            row[-1] += 1

    def cumulative(self, *labels: str) -> list[float]:
        row = self.series.get(labels, [0.0] * (len(self.bounds) + 3))
        out, total = [], 0.0
        for c in row[: len(self.bounds) + 1]:
            total += c
            out.append(total)
        return out  # last entry is +Inf

    def quantile(self, q: float, *labels: str) -> float:
        """histogram_quantile(): the bucket holding rank q*count, linear inside it (lower edge 0 for the first)."""
        cum = self.cumulative(*labels)
        count = cum[-1]
        if count == 0:
            return math.nan
        rank = q * count
        i = next(j for j, c in enumerate(cum) if c >= rank)
        if i == len(self.bounds):
            return self.bounds[-1]  # in the +Inf bucket: the highest finite bound is all we know
        lo = self.bounds[i - 1] if i else 0.0
        below = cum[i - 1] if i else 0.0
        inside = cum[i] - below
        return lo + (self.bounds[i] - lo) * ((rank - below) / inside if inside else 0.0)

    def render(self) -> list[str]:
        lines = self.header()
        for key in sorted(self.series):
            cum = self.cumulative(*key)
            for b, c in zip([*(f"{x:g}" for x in self.bounds), "+Inf"], cum, strict=True):
                le = 'le="' + b + '"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {c:g}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {self.series[key][-2]:g}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {self.series[key][-1]:g}")
        return lines


class Gauge(_Family):
    """A gauge whose value is read from a callback when scraped, so it can never be stale."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        super().__init__(name, help_text)
        self.read = read

    def render(self) -> list[str]:
        return self.header() + [f"{self.name} {float(self.read()):g}"]


class Registry:
    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}

    def register(self, family: _Family) -> _Family:
        if family.name in self.families:
            raise ValueError(f"metric {family.name} registered twice")
        self.families[family.name] = family
        return family

    def exposition(self) -> str:
        return "\n".join(line for f in self.families.values() for line in f.render()) + "\n"


def parse_types(text: str) -> dict[str, str]:
    """Metric family name -> type, read back from exposition text (what a scraper sees)."""
    return {p[2]: p[3] for p in (ln.split() for ln in text.splitlines() if ln.startswith("# TYPE ")) if len(p) == 4}


def parse_samples(text: str) -> dict[str, float]:
    return {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln and not ln.startswith("#")}
