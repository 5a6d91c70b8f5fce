"""Traffic splitting and the statistics that judge it.

`assign` hashes salt + request id, so a request id lands on the same arm on every call and every
machine (Python's hash() is salted per process and would not be sticky). `shadow_call` answers the
user from the current model and runs the candidate afterwards in a worker thread, catching its
exceptions: the user never waits for or sees the candidate. The tests: two-proportion z-test
with a Wald 95 % interval, Mann-Whitney U on latency, Bonferroni, and the per-arm sample size
n = 2 ((z_{a/2} + z_b) / delta)^2 p (1 - p).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from scipy import stats


def assign(request_id: str, salt: str, arms: tuple[str, ...] = ("A", "B")) -> str:
    digest = hashlib.sha256(f"{salt}:{request_id}".encode()).digest()
    return arms[int.from_bytes(digest[:8], "big") % len(arms)]


@dataclass
class ShadowResult:
    user_answer: str
    candidate: Future[Any]


def shadow_call(pool: ThreadPoolExecutor, current: Callable[[], str], candidate: Callable[[], str]) -> ShadowResult:
    """The user's answer comes from `current` before the candidate is even submitted."""
    answer = current()

    def guarded() -> dict[str, Any]:
        try:
            return {"answer": candidate(), "error": None}
        except Exception as exc:  # noqa: BLE001 - a candidate failure is data, never the user's problem
            return {"answer": None, "error": f"{type(exc).__name__}: {exc}"}

    return ShadowResult(answer, pool.submit(guarded))


def two_proportion_ztest(x_a: int, n_a: int, x_b: int, n_b: int) -> dict[str, float]:
    """Pooled z and two-sided p for p_b - p_a, with the unpooled (Wald) 95 % interval."""
    pa, pb = x_a / n_a, x_b / n_b
    pool = (x_a + x_b) / (n_a + n_b)
    se0 = math.sqrt(pool * (1 - pool) * (1 / n_a + 1 / n_b))
    z = (pb - pa) / se0 if se0 > 0 else 0.0
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    return {"diff": pb - pa, "z": z, "p": float(2 * stats.norm.sf(abs(z))), "ci_low": pb - pa - 1.96 * se, "ci_high": pb - pa + 1.96 * se}


def sample_size_per_arm(p: float, delta: float, alpha: float = 0.05, power: float = 0.8, rounded_z: bool = False) -> int:
    """Requests per arm to see an absolute difference `delta` around rate `p` (normal approximation).
    rounded_z uses the textbook 1.96 + 0.84 (3,267 at p=0.75, delta=0.03); exact quantiles give 3,271."""
    z = 1.96 + 0.84 if rounded_z else stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return math.ceil(2 * (z / delta) ** 2 * p * (1 - p))


def mann_whitney(a: list[float], b: list[float]) -> dict[str, float]:
    r = stats.mannwhitneyu(a, b, alternative="two-sided")
    return {"u": float(r.statistic), "p": float(r.pvalue)}


def bonferroni(p_values: dict[str, float], alpha: float = 0.05) -> dict[str, bool]:
    return {k: p < alpha / len(p_values) for k, p in p_values.items()}
