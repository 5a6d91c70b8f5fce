"""A simulated rollout: the candidate in shadow, then an A/B split, and the verdict on the traffic log.

Phase 38 lab 01 sends seeded requests (cells of the §A13 grid) through `traffic.shadow_call` and
`traffic.assign` and judges the JSONL log they leave: accuracy by z-test, latency by Mann-Whitney,
shadow improvements and regressions, per-tense buckets. The traffic and its analysis live here so
the statistics are testable on any log; the lab writes the log and the report. Latencies are
lognormal draws from the same generator as the cells, in request order, so a seed fixes the log.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from engine.lm.text.verbs import TENSES, conjugate
from engine.systems.mlops import traffic
from engine.systems.mlops.variants import CELLS, Cell, Variant, correct

LATENCY_MEDIAN_MS = {"A": 40.0, "B": 46.0}   # the candidate is a little slower


def latency_ms(rng: np.random.Generator, arm: str) -> float:
    """One request's latency on `arm`: lognormal around the arm's median, sigma 0.25."""
    return float(rng.lognormal(np.log(LATENCY_MEDIAN_MS[arm]), 0.25))


def shadow_traffic(current: Variant, cand: Variant, n: int, rng: np.random.Generator,
                   crash_at: int) -> tuple[list[dict[str, Any]], bool]:
    """`n` shadow requests; the candidate raises on request `crash_at`. Returns the log and whether
    the user was isolated: every answer came from `current`, and the crash was caught and logged."""

    def candidate_fn(i: int, cell: Cell) -> str:
        if i == crash_at:
            raise RuntimeError("candidate blew up")
        return cand.answer(cell)

    log: list[dict[str, Any]] = []
    isolated = True
    with ThreadPoolExecutor(max_workers=1) as pool:
        for i in range(n):
            cell = CELLS[int(rng.integers(len(CELLS)))]
            try:
                res = traffic.shadow_call(pool, lambda c=cell: current.answer(c),
                                          lambda i=i, c=cell: candidate_fn(i, c))
                shadow = res.candidate.result()
            except Exception:  # noqa: BLE001 - would mean the candidate's failure reached the user
                isolated = False
                continue
            isolated &= res.user_answer == current.answer(cell)
            log.append({"request_id": f"shadow-{i:05d}", "mode": "shadow", "arm": "A", "cell": list(cell),
                        "user_answer": res.user_answer, "correct": correct(current, cell),
                        "latency_ms": latency_ms(rng, "A"), "candidate_answer": shadow["answer"],
                        "candidate_error": shadow["error"], "candidate_correct": shadow["answer"] == conjugate(*cell)})
    isolated &= any(r["candidate_error"] for r in log)
    return log, isolated


def ab_traffic(current: Variant, cand: Variant, n: int, rng: np.random.Generator, salt: str) -> list[dict[str, Any]]:
    """`n` A/B requests, each on the arm its salted request id hashes to."""
    log = []
    for i in range(n):
        rid = f"ab-{i:05d}"
        cell = CELLS[int(rng.integers(len(CELLS)))]
        arm = traffic.assign(rid, salt)
        model = current if arm == "A" else cand
        log.append({"request_id": rid, "mode": "ab", "arm": arm, "cell": list(cell), "user_answer": model.answer(cell),
                    "correct": correct(model, cell), "latency_ms": latency_ms(rng, arm)})
    return log


def tense_buckets(arms: dict[str, list[dict[str, Any]]]) -> dict[str, float | None]:
    """Accuracy per (tense, arm), None where a bucket got no requests."""
    buckets: dict[str, float | None] = {}
    for t, name in enumerate(TENSES):
        for a, rows in arms.items():
            sel = [r for r in rows if r["cell"][1] == t]
            buckets[f"{name}.{a}"] = sum(r["correct"] for r in sel) / len(sel) if sel else None
    return buckets


def analyse(log: list[dict[str, Any]], salt: str) -> dict[str, Any]:
    """The verdict on a traffic log: stickiness, salt dependence, z-test, Mann-Whitney, shadow diffs."""
    ab = [r for r in log if r["mode"] == "ab"]
    arms = {a: [r for r in ab if r["arm"] == a] for a in ("A", "B")}
    sh = [r for r in log if r["mode"] == "shadow" and r["candidate_error"] is None]
    improved = sum((not r["correct"]) and r["candidate_correct"] for r in sh)
    regressed = sum(r["correct"] and not r["candidate_correct"] for r in sh)
    return {
        "sticky": all(traffic.assign(r["request_id"], salt) == r["arm"] for r in reversed(ab)),
        "salt_matters": sum(traffic.assign(r["request_id"], salt + "-x") != r["arm"] for r in ab) > 0,
        "arms": arms,
        "z": traffic.two_proportion_ztest(sum(r["correct"] for r in arms["A"]), len(arms["A"]),
                                          sum(r["correct"] for r in arms["B"]), len(arms["B"])),
        "mw": traffic.mann_whitney([r["latency_ms"] for r in arms["A"]], [r["latency_ms"] for r in arms["B"]]),
        "shadow_ok": len(sh), "improved": improved, "regressed": regressed,
        "buckets": tense_buckets(arms),
    }
