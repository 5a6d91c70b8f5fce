"""Cost per request: seconds of machine time per stage, priced at an hourly rate.

cost = rate_usd_per_hour / 3600 * seconds. When sequences share a batch, each decode step's time is
split evenly among the sequences active in that step, so a request pays for its share, not the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

STAGES = ("retrieve", "prefill", "decode", "other")


def usd(seconds: float, rate_usd_per_hour: float) -> float:
    return rate_usd_per_hour / 3600.0 * seconds


def decode_shares(step_seconds: Sequence[float], active: Sequence[Sequence[str]]) -> dict[str, float]:
    """Per-request decode seconds: step i's time divided among the requests in active[i]."""
    out: dict[str, float] = {}
    for dt, ids in zip(step_seconds, active, strict=True):
        for rid in ids:
            out[rid] = out.get(rid, 0.0) + dt / len(ids)
    return out


@dataclass
class RequestCost:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    completion_tokens: int = 0

    def add(self, stage: str, seconds: float) -> None:
        if stage not in self.seconds:
            raise KeyError(f"unknown stage {stage!r}")
        self.seconds[stage] += seconds

    def dollars(self, rate_usd_per_hour: float) -> dict[str, float]:
        return {k: usd(v, rate_usd_per_hour) for k, v in self.seconds.items()}

    def total(self, rate_usd_per_hour: float) -> float:
        return usd(sum(self.seconds.values()), rate_usd_per_hour)

    def per_1k_tokens(self, rate_usd_per_hour: float) -> float:
        return self.total(rate_usd_per_hour) * 1000.0 / max(self.completion_tokens, 1)
