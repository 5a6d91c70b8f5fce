"""What the lab screen needs to know about a phase lab or an experiment, and its run requests."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.content.loader import Catalog
from workbench.content.schema import Break, Chart
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
    shows: dict[str, str] = field(default_factory=dict)  # break id -> the metric that shows it
    notes: list[str] = field(default_factory=list)

    def charts_showing(self, break_id: str | None) -> list[Chart]:
        """The split view's charts: those plotting the break's `shows` metric (one made for it if
        no declared chart does), else all of them."""
        metric = self.shows.get(break_id or "")
        if not metric:
            return list(self.charts)
        picked = [c for c in self.charts if metric in c.y]
        if picked:
            return picked
        base = self.charts[0] if self.charts else None
        return [Chart(title=f"{metric} (shows the break)", y=[metric], x=base.x if base else "step",
                      series_by=base.series_by if base else None, mark=base.mark if base else None)]

    @property
    def target(self) -> str:
        return f"phase-{self.phase:02d}/{self.lab_id}" if self.phase is not None else self.lab_id

    def break_target(self, break_id: str) -> str:
        return f"phase-{self.phase:02d}/{break_id}" if self.phase is not None else break_id


def phase_lab(catalog: Catalog, phase: int, lab_id: str) -> LabRef:
    ph = catalog.phase(phase)
    lab = ph.lab(lab_id)
    mine = [b for b in ph.breaks if b.lab == lab_id]
    return LabRef(lab.id, lab.title, lab.summary, list(lab.charts), phase, [(b.id, b.title) for b in mine], lab.status,
                  list(lab.needs), _shows(mine), list(lab.notes))


def experiment(catalog: Catalog, exp_id: str) -> LabRef:
    exp = catalog.experiments[exp_id]
    return LabRef(exp.id, exp.title, exp.summary, list(exp.charts), None, [(b.id, b.title) for b in exp.breaks],
                  exp.status, list(exp.needs), _shows(exp.breaks), list(exp.notes))


def _shows(breaks: list[Break]) -> dict[str, str]:
    return {b.id: b.shows for b in breaks if b.shows}


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
            return list(catalog.phase(int(phase)).lab(str(lab)).charts)
        exp = catalog.experiments.get(lab or target.get("name", ""))
        return list(exp.charts) if exp else []
    except KeyError:
        return []
