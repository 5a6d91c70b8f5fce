"""Cost per quality unit: dollars per correct answer, one row per registered model.

$/correct = (rate_usd_per_hour / 3600) / (tokens_per_second x accuracy / tokens_per_answer).
Throughput is measured once (median of runs) and stored; the table is rendered from the stored
measurements, sorted by SHA, with fixed formatting, so regenerating it gives identical bytes. A
model under `min_accuracy` gets "not-deployment-ready" instead of a number.
"""

from __future__ import annotations

from typing import Any


def cost_per_correct(rate_usd_per_hour: float, tokens_per_second: float, accuracy: float, tokens_per_answer: float) -> float:
    answers_per_second = tokens_per_second / tokens_per_answer
    return (rate_usd_per_hour / 3600.0) / (answers_per_second * accuracy)


def render_table(rows: list[dict[str, Any]], rate_usd_per_hour: float, min_accuracy: float) -> str:
    out = [f"# Cost per quality unit (rate ${rate_usd_per_hour:.2f}/h)", "",
           "| model | sha | accuracy | tokens/s | $ per 1k correct |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["sha"]):
        if r["accuracy"] < min_accuracy:
            cost = "not-deployment-ready"
        else:
            cost = f"{1000 * cost_per_correct(rate_usd_per_hour, r['tokens_per_second'], r['accuracy'], r['tokens_per_answer']):.6f}"
        out.append(f"| {r['name']} | {r['sha'][:12]} | {r['accuracy']:.3f} | {r['tokens_per_second']:.0f} | {cost} |")
    return "\n".join(out) + "\n"
