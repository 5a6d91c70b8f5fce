"""Which labs carry an exercise, and where each learner file lives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from workbench import workspace
from workbench.content.loader import Catalog
from workbench.content.schema import Exercise, Lab

_TARGET = re.compile(r"^(?:phase-?)?(\d{1,2})/(?:lab-?)?(\d{1,2})$")


class ExerciseNotFound(LookupError):
    """A target with no exercise (usage error, exit 2)."""


@dataclass(frozen=True)
class ExerciseRef:
    phase: int
    lab: Lab
    exercise: Exercise

    @property
    def target(self) -> str:
        return f"phase-{self.phase:02d}/{self.lab.id}"

    @property
    def folder(self) -> Path:
        return workspace.home() / "learner" / f"phase-{self.phase:02d}"

    @property
    def path(self) -> Path:
        return self.folder / self.exercise.file


def all_exercises(catalog: Catalog, phase: int | None = None) -> list[ExerciseRef]:
    out = []
    for number in sorted(catalog.phases):
        if phase is not None and number != phase:
            continue
        for lab in catalog.phases[number].labs:
            if lab.exercise is not None and lab.status == "ready":
                out.append(ExerciseRef(number, lab, lab.exercise))
    return out


def normalize(target: str) -> str:
    match = _TARGET.match(target.strip())
    if not match:
        raise ExerciseNotFound(f"{target!r}: expected an exercise target such as phase-07/lab-01")
    return f"phase-{int(match.group(1)):02d}/lab-{int(match.group(2)):02d}"


def find(catalog: Catalog, target: str) -> ExerciseRef:
    want = normalize(target)
    refs = all_exercises(catalog)
    for ref in refs:
        if ref.target == want:
            return ref
    same_phase = [r.target for r in refs if r.target.split("/")[0] == want.split("/")[0]]
    hint = f" (this phase has {', '.join(same_phase)})" if same_phase else " (see `workbench exercises`)"
    raise ExerciseNotFound(f"{want} has no exercise{hint}")
