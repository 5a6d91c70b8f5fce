"""Run a lab in-process exactly as `workbench run --quick` configures it, and judge it with the
runner's own checks. One harness for every phase's lab tests.

`outcome(target)` goes through workbench.runner.call.call_lab, the one way any caller runs a lab
(plan the config, seed as the child process does, call the entry with a strict config and a
MemoryRecorder, judge the checks), and caches the JSON form of the result and records for the
test session, so a lab and its break each run once however many tests read them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from workbench.content import load_catalog
from workbench.content.loader import Catalog
from workbench.runner.call import call_lab, healthy_shows_break
from workbench.runner.checks import evaluate
from workbench.runner.plan import Options, RunRequest, plan

ROOT = Path(__file__).resolve().parents[1]


@cache
def catalog() -> Catalog:
    return load_catalog(ROOT)


def request(target: str, quick: bool = True, sets: tuple[str, ...] = (), seed: int | None = None) -> RunRequest:
    (req,) = plan(catalog(), target, Options(quick=quick, sets=list(sets), seed=seed))
    return req


def run_fresh(
    target: str, quick: bool = True, sets: tuple[str, ...] = (), seed: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    call = call_lab(request(target, quick, sets, seed))
    return call.result, call.records


@cache
def _cached(target: str, quick: bool, sets: tuple[str, ...]) -> tuple[str, str]:
    result, records = run_fresh(target, quick, sets)
    return json.dumps(result), json.dumps(records)


def outcome(target: str, quick: bool = True, sets: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    result, records = _cached(target, quick, sets)
    return json.loads(result), json.loads(records)


def unmeasured(result: dict[str, Any], measured: Iterable[str]) -> dict[str, Any]:
    """The results outside a lab's `measured` keys: what the same seed must reproduce (a timing moves anyway)."""
    from engine.core.manifest.compare import is_measured

    return {k: v for k, v in result.items() if not is_measured(k, measured)}


def failed_hard_checks(target: str, quick: bool = True, sets: tuple[str, ...] = ()) -> list[str]:
    """The hard checks (for a break: its expectations) that the run does not meet."""
    req = request(target, quick, sets)
    rows = evaluate(req.checks, *outcome(target, quick, sets))
    return [f"{target}: {r['name']} got {r['actual']!r}" for r in rows if r["hard"] and not r["passed"]]


def symptoms_in_healthy(break_target: str, quick: bool = True) -> list[bool]:
    """For each expectation of a break: does the healthy lab meet it too?"""
    req = request(break_target, quick)
    healthy = break_target.rsplit("/", 1)[0] + "/" + str(req.lab_id)
    return [row["passed"] for row in evaluate(req.checks, *outcome(healthy, quick))]


def healthy_shows(break_target: str, quick: bool = True) -> bool:
    """The runner's own verdict: does the healthy lab meet every hard expectation of the break?"""
    req = request(break_target, quick)
    healthy = break_target.rsplit("/", 1)[0] + "/" + str(req.lab_id)
    return healthy_shows_break(req, *outcome(healthy, quick))


def targets(phases: Iterable[int], kind: str, slow: Iterable[str] = ()) -> list[Any]:
    """pytest params of the ready labs (kind='lab') or breaks of ready labs (kind='break');
    targets named in `slow` (or breaks of a slow lab) carry the slow mark."""
    slow = set(slow)
    out = []
    for n in phases:
        phase = catalog().phase(n)
        ready = {lab.id for lab in phase.labs if lab.status == "ready" and lab.entry}
        items = [lab.id for lab in phase.labs if lab.id in ready] if kind == "lab" else [b.id for b in phase.breaks if b.lab in ready]
        for item in items:
            target = f"{phase.key}/{item}"
            lab_of = next((b.lab for b in phase.breaks if b.id == item), item)
            is_slow = target in slow or f"{phase.key}/{lab_of}" in slow
            marks = [pytest.mark.slow] if is_slow else []
            unmet = _unmet_needs(next(lab for lab in phase.labs if lab.id == lab_of).needs)
            if unmet:
                marks.append(pytest.mark.skip(reason=unmet))
            out.append(pytest.param(target, id=target, marks=marks))
    return out


def _unmet_needs(needs: list[str]) -> str | None:
    """The runner's own skip reason for a lab's needs (a GPU, triton, nvcc ...) on this machine."""
    if not needs:
        return None
    from types import SimpleNamespace

    from workbench.runner.session import skip_reason

    return skip_reason(SimpleNamespace(needs=list(needs)))  # type: ignore[arg-type]
