"""Turn a target string into run requests with fully resolved configs.

Targets: `phase-07` (every lab, then every break), `phase-07/lab-02`, `phase-07/break-00`,
or an experiment id such as `bk-scaling`. Config precedence, lowest first:
lab `config:` < `quick:` (with --quick) < `--config` file < `--set k=v`; then the run keys
`seed`, `fault`, `quick`, `device` are filled in. The resolved config is what gets hashed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.content.configtypes import ConfigTypeError, check_overrides
from workbench.content.loader import Catalog
from workbench.content.schema import Break, Chart, Check, Lab
from workbench.content.yamlio import YamlError, load_yaml, loads_yaml

DEFAULT_SEED = 42


class PlanError(ValueError):
    """A target or option that cannot be run (exit code 2)."""


@dataclass
class RunRequest:
    target: str
    kind: str  # lab | break | experiment
    title: str
    entry: str | None
    config: dict[str, Any]
    checks: list[Check]
    charts: list[Chart]
    needs: list[str] = field(default_factory=list)
    timeout: float | None = None
    status: str = "ready"
    phase: int | None = None
    lab_id: str | None = None
    substitute: str | None = None
    exercise: dict[str, Any] | None = None  # learner slots to substitute (workbench/exercises, docs/EXERCISES.md)
    seeded: bool = True  # false: the lab declares --seed cannot change its results (outside `measured`)
    measured: list[str] = field(default_factory=list)  # result keys that differ run to run (timings)
    break_id: str | None = None  # for kind == "break": the break's id, fault and title
    break_title: str | None = None
    healthy: RunRequest | None = None  # for a break: the same lab, same options, fault off

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    @property
    def slug(self) -> str:
        return self.target.replace("/", "-")


def config_hash(config: dict[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`--set a.b=3e-4` → {"a": {"b": 0.0003}}; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise PlanError(f"--set {pair!r}: expected key=value")
        value = loads_yaml(raw) if raw.strip() else ""
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class Options:
    quick: bool = False
    breaks: bool = False  # run only breaks (of the phase, or of the named lab)
    sets: list[str] = field(default_factory=list)
    config_file: Path | None = None
    seed: int | None = None
    device: str = "cpu"


def _resolve(lab: Lab, opts: Options, fault: str | None, target: str = "") -> dict[str, Any]:
    """The lab's config with every override applied, each override checked against the declared
    keys and types (an unknown key or a wrong type is a PlanError naming what is valid)."""
    cfg = dict(lab.config)
    if opts.quick:
        cfg = merge(cfg, lab.quick)
    for_lab = f" (for {target})" if target else ""
    try:
        if opts.config_file:
            try:
                extra = load_yaml(opts.config_file)
            except YamlError as exc:
                raise PlanError(str(exc)) from exc
            if not isinstance(extra, dict):
                raise PlanError(f"{opts.config_file}: a config file must be a mapping")
            cfg = merge(cfg, check_overrides(lab.config, lab.types, extra, f"{opts.config_file}{for_lab}"))
        cfg = merge(cfg, check_overrides(lab.config, lab.types, parse_sets(opts.sets), f"--set{for_lab}"))
    except ConfigTypeError as exc:
        raise PlanError(str(exc)) from None
    seed = opts.seed if opts.seed is not None else cfg.get("seed", DEFAULT_SEED)
    cfg.update(seed=int(seed), fault=fault, quick=opts.quick, device=opts.device)
    return cfg


def _request(prefix: str, lab: Lab, opts: Options, phase: int | None, brk: Break | None = None) -> RunRequest:
    """A lab run, or — given `brk` — the same lab with the break's fault on and its expectations as checks."""
    run_id = brk.id if brk else lab.id
    target = f"{prefix}/{run_id}" if prefix else run_id
    return RunRequest(
        target=target,
        kind="break" if brk else ("lab" if prefix else "experiment"),
        title=f"{brk.title} (break of {lab.id})" if brk else lab.title,
        entry=lab.entry,
        config=_resolve(lab, opts, brk.fault if brk else None, target),
        checks=list(brk.expect if brk else lab.checks),
        charts=list(lab.charts),
        needs=list(lab.needs),
        timeout=lab.timeout,
        status=lab.status,
        phase=phase,
        lab_id=lab.id,
        substitute=lab.substitute,
        seeded=lab.seeded,
        measured=list(lab.measured),
        break_id=brk.id if brk else None,
        break_title=brk.title if brk else None,
        healthy=_request(prefix, lab, opts, phase) if brk else None,
    )


def lab_target(target: str, lab: int | None) -> str:
    """`phase-07` with `--lab 2` → `phase-07/lab-02` (the short form); the target unchanged without --lab."""
    if lab is None:
        return target
    match = _PHASE.match(target.strip())
    if not match or match.group(2):
        raise PlanError(f"--lab {lab}: give a phase (phase-NN or NN) as the target, not {target!r}")
    return f"phase-{int(match.group(1)):02d}/lab-{lab:02d}"


_PHASE = re.compile(r"^(?:phase-?)?(\d{1,2})(?:/(.+))?$")


def plan(catalog: Catalog, target: str, opts: Options) -> list[RunRequest]:
    match = _PHASE.match(target.strip())
    if match:
        number, part = int(match.group(1)), match.group(2)
        try:
            phase = catalog.phase(number)
        except KeyError as exc:
            raise PlanError(str(exc.args[0])) from exc
        labs = {lab.id: lab for lab in phase.labs}
        prefix = phase.key
        if part is None:
            reqs = [] if opts.breaks else [_request(prefix, lab, opts, number) for lab in phase.labs]
            return reqs + [_request(prefix, labs[b.lab], opts, number, b) for b in phase.breaks]
        if part in labs:
            if opts.breaks:
                brks = [b for b in phase.breaks if b.lab == part]
                if not brks:
                    raise PlanError(f"{prefix}/{part} has no break")
                return [_request(prefix, labs[part], opts, number, b) for b in brks]
            return [_request(prefix, labs[part], opts, number)]
        for brk in phase.breaks:
            if brk.id == part:
                return [_request(prefix, labs[brk.lab], opts, number, brk)]
        known = ", ".join([*labs, *(b.id for b in phase.breaks)])
        raise PlanError(f"{prefix} has no lab or break {part!r} (have {known})")
    if target in catalog.experiments:
        exp = catalog.experiments[target]
        if opts.breaks:
            return [_request("", exp, opts, None, b) for b in exp.breaks]
        return [_request("", exp, opts, None)]
    known = ", ".join(sorted(catalog.experiments)) or "none"
    raise PlanError(f"unknown target {target!r}: use phase-NN, phase-NN/lab-K, or an experiment ({known})")
