"""The one way to call a lab: resolve its config, seed, call the entry, judge the checks.

Every caller goes through here: the runner's child process (`invoke`), the run session
(`judge`), tests/labkit.py, the benchmarks and the exercises' in-process judge (`call_lab`).
So a lab gets the same config, the same seeding and the same verdict wherever it runs.

    from workbench.runner.call import call_lab
    res = call_lab("phase-07/lab-02", quick=True, sets=["lr=0.1"], seed=3)
    res.status      # passed | failed, or for a break: detected | missed
    res.result      # the entry's returned dict, in JSON form
    res.checks      # one row per check, as in the manifest
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.content.loader import Catalog
from workbench.runner.checks import evaluate
from workbench.runner.plan import Options, PlanError, RunRequest, plan
from workbench.runner.strict import StrictConfig

Entry = Callable[[dict[str, Any], Any], Any]


@dataclass
class LabCall:
    """What one in-process call of a lab produced, judged like `workbench run` judges it."""

    request: RunRequest
    result: dict[str, Any]
    records: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    status: str  # passed | failed | detected | missed
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "detected")

    @property
    def failed_hard(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["hard"] and not c["passed"]]


def load_entry(entry: str) -> Entry:
    """`engine.labs.pNN_x:fn` → the function (importing its module)."""
    module_name, _, func_name = entry.partition(":")
    return getattr(importlib.import_module(module_name), func_name)


def invoke(entry: str | Entry, config: dict[str, Any], rec: Any) -> dict[str, Any]:
    """Seed exactly as the runner does, call the entry with a strict copy of `config`, return JSON.

    The entry's module is imported first so that `seed_everything` also seeds torch when the
    lab uses it. The config handed to the lab is a `StrictConfig`: reading a key that the
    lab's YAML does not declare raises, instead of silently using a Python-side default.
    """
    from engine.core.repro import seed_everything
    from engine.core.run import to_json

    fn = load_entry(entry) if isinstance(entry, str) else entry
    seed_everything(config["seed"], torch="torch" in sys.modules)
    result = to_json(fn(StrictConfig(config), rec) or {})
    if not isinstance(result, dict):
        name = entry if isinstance(entry, str) else getattr(entry, "__name__", "entry")
        raise TypeError(f"{name} returned {type(result).__name__}, expected a dict")
    return result


def judge(req: RunRequest, result: dict[str, Any], records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """(check rows, status). A lab passes when every hard check holds; a break is `detected`
    when every hard expectation holds on the broken run, else `missed`."""
    checks = evaluate(req.checks, result, records)
    ok = not any(c["hard"] and not c["passed"] for c in checks)
    if req.kind == "break":
        return checks, "detected" if ok else "missed"
    return checks, "passed" if ok else "failed"


def healthy_shows_break(req: RunRequest, healthy_result: dict[str, Any], healthy_records: list[dict[str, Any]]) -> bool:
    """Does the healthy lab meet every hard expectation of break `req` too? (Then the break proves nothing.)"""
    rows = evaluate(req.checks, healthy_result, healthy_records)
    hard = [r for r in rows if r["hard"]]
    return bool(hard) and all(r["passed"] for r in hard)


def plan_one(catalog: Catalog, target: str, opts: Options) -> RunRequest:
    reqs = plan(catalog, target, opts)
    if len(reqs) != 1:
        raise PlanError(f"{target}: names {len(reqs)} runs; call one lab or break at a time")
    return reqs[0]


def call_lab(
    target: str | RunRequest,
    *,
    catalog: Catalog | None = None,
    quick: bool = True,
    sets: Sequence[str] = (),
    seed: int | None = None,
    config_file: Path | None = None,
    device: str = "cpu",
    entry: str | Entry | None = None,
    rec: Any = None,
) -> LabCall:
    """Run one lab or break in this process, exactly as `workbench run` configures and judges it.

    target: `phase-07/lab-02`, `phase-07/break-00`, an experiment id, or a planned RunRequest.
    quick/sets/seed/config_file/device: the same options as the CLI (`--quick`, `--set`, ...).
    entry: call this function (or `module:function`) instead of the YAML's entry, with the
      same config; the exercises use it to judge a learner's implementation.
    rec: a Recorder to log into (default: a fresh engine.core.run.MemoryRecorder).
    Raises PlanError for an unknown target or a bad option (unknown key, wrong type).
    """
    from engine.core.run import MemoryRecorder

    if isinstance(target, RunRequest):
        req = target
    else:
        if catalog is None:
            from workbench.content import load_catalog

            catalog = load_catalog()
        opts = Options(quick=quick, sets=list(sets), seed=seed, config_file=config_file, device=device)
        req = plan_one(catalog, target, opts)
    fn = entry or req.entry
    if not fn:
        raise PlanError(f"{req.target} has no entry (status {req.status})")
    rec = rec if rec is not None else MemoryRecorder()
    result = invoke(fn, req.config, rec)
    records = list(getattr(rec, "records", []))
    checks, status = judge(req, result, records)
    return LabCall(req, result, records, checks, status, list(getattr(rec, "notes", [])))
