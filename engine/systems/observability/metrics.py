"""histogram_quantile(), the maths Prometheus uses to estimate a percentile from bucket counts.

Why ours: the metrics themselves are prometheus-client's (engine.systems.observability.prom), but the
phase's point is what a percentile read off buckets means: find the bucket that holds rank
q x count and interpolate linearly inside it (lower edge 0 for the first bucket); a rank in the
+Inf bucket can only be reported as the highest finite bound. Summaries are not used: their
quantiles cannot be aggregated across processes, bucket counts can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def histogram_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float:
    """`bounds` the finite upper edges (sorted), `cumulative` the le-counts with +Inf last."""
    if len(cumulative) != len(bounds) + 1:
        raise ValueError("cumulative needs one count per finite bound plus +Inf")
    count = cumulative[-1]
    if count == 0:
        return math.nan
    rank = q * count
    i = next(j for j, c in enumerate(cumulative) if c >= rank)
    if i == len(bounds):
        return float(bounds[-1])
    lo = bounds[i - 1] if i else 0.0
    below = cumulative[i - 1] if i else 0.0
    inside = cumulative[i] - below
    return lo + (bounds[i] - lo) * ((rank - below) / inside if inside else 0.0)
