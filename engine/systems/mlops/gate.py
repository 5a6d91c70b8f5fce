"""The CI deploy gate: every evaluation bucket must stay within tolerance of the baseline.

A candidate passes when, for every bucket of the baseline, candidate >= baseline - tolerance
(percentage points). Exit 0 on pass; on failure a markdown table of the failing buckets and
exit 2 (the course's code, distinct from a crash's 1). A bucket missing from the candidate fails.
"""

from __future__ import annotations

from typing import Any


def compare_baseline(baseline: dict[str, Any], candidate: dict[str, Any], tolerance_pp: float) -> tuple[int, list[dict[str, Any]], str]:
    tol = tolerance_pp / 100.0
    failing = []
    for name, base in sorted(baseline["buckets"].items()):
        got = candidate["buckets"].get(name, {}).get("accuracy", float("-inf"))
        if got < base["accuracy"] - tol - 1e-12:
            failing.append({"bucket": name, "baseline": base["accuracy"], "candidate": got, "drop_pp": 100 * (base["accuracy"] - got)})
    lines = ["| bucket | baseline | candidate | drop (pp) |", "|---|---|---|---|"]
    lines += [f"| {f['bucket']} | {f['baseline']:.3f} | {f['candidate']:.3f} | {f['drop_pp']:.1f} |" for f in failing]
    return (2 if failing else 0), failing, "\n".join(lines) if failing else "all buckets within tolerance"
