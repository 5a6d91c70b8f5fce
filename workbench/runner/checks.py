"""Evaluate a lab's checks against its result dict and logged metrics."""

from __future__ import annotations

import math
import operator
from typing import Any

from workbench.content.schema import Check

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def lookup(metric: str, result: dict[str, Any], records: list[dict[str, Any]]) -> Any:
    """The result's value for `metric`, else the last logged value, else None."""
    if metric in result:
        return result[metric]
    for row in reversed(records):
        if metric in row:
            return row[metric]
    return None


def compare(actual: Any, op: str, expected: Any, tol: float | None = None) -> bool:
    if actual is None or (isinstance(actual, float) and math.isnan(actual)):
        return False
    if op in ("==", "!="):
        if tol is not None and isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
            same = abs(float(actual) - float(expected)) <= tol
        else:
            same = actual == expected
        return same if op == "==" else not same
    try:
        return bool(_OPS[op](actual, expected))
    except TypeError:
        return False


def evaluate(checks: list[Check], result: dict[str, Any], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for check in checks:
        actual = lookup(check.metric, result, records)
        rows.append(
            {
                "name": check.label,
                "metric": check.metric,
                "op": check.op,
                "expected": check.value,
                "tol": check.tol,
                "actual": actual,
                "passed": compare(actual, check.op, check.value, check.tol),
                "hard": check.hard,
            }
        )
    return rows
