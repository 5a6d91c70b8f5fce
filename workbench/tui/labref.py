"""What the lab screen needs to know about a phase lab or an experiment, and its run requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.content.loader import Catalog
from workbench.content.schema import Chart
from workbench.runner.plan import Options, RunRequest, plan


@dataclass(frozen=True)
class LabRef:
    lab_id: str
    title: str
    summary: str
    charts: list[Chart]
    phase: int | None = None  # None for an experiment
    breaks: list[tuple[str, str]] = field(default_factory=list)  # (break id, title)
    status: str = "ready"
    needs: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"phase-{self.phase:02d}/{self.lab_id}" if self.phase is not None else self.lab_id

    def break_target(self, break_id: str) -> str:
        return f"phase-{self.phase:02d}/{break_id}" if self.phase is not None else break_id


def phase_lab(catalog: Catalog, phase: int, lab_id: str) -> LabRef:
    ph = catalog.phase(phase)
    lab = ph.lab(lab_id)
    breaks = [(b.id, b.title) for b in ph.breaks if b.lab == lab_id]
    return LabRef(lab.id, lab.title, lab.summary, list(lab.charts), phase, breaks, lab.status, list(lab.needs))


def experiment(catalog: Catalog, exp_id: str) -> LabRef:
    exp = catalog.experiments[exp_id]
    breaks = [(b.id, b.title) for b in exp.breaks]
    return LabRef(exp.id, exp.title, exp.summary, list(exp.charts), None, breaks, exp.status, list(exp.needs))


def request(catalog: Catalog, ref: LabRef, break_id: str | None, quick: bool) -> RunRequest:
    """The run request for the healthy lab (break_id None) or one of its breaks."""
    if ref.phase is not None:
        return plan(catalog, ref.break_target(break_id) if break_id else ref.target, Options(quick=quick))[0]
    if break_id is None:
        return plan(catalog, ref.lab_id, Options(quick=quick))[0]
    reqs = plan(catalog, ref.lab_id, Options(quick=quick, breaks=True))
    return next(r for r in reqs if r.target == break_id)


def charts_for(catalog: Catalog | None, target: dict) -> list[Chart]:
    """The chart specs for a run's manifest target (phase lab, break of a lab, or experiment)."""
    if catalog is None:
        return []
    phase, lab = target.get("phase"), target.get("lab")
    try:
        if phase is not None:
            return list(catalog.phase(int(phase)).lab(lab).charts)
        exp = catalog.experiments.get(lab or target.get("name", ""))
        return list(exp.charts) if exp else []
    except KeyError:
        return []
