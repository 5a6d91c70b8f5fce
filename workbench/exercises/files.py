"""The learner's files: generated once, never overwritten (`--force` keeps a `.bak-<UTC>` copy)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from engine.core.atomic import write_text
from workbench.content.loader import Catalog
from workbench.exercises.catalog import ExerciseRef, find
from workbench.exercises.source import render


@cache
def _catalog() -> Catalog:
    from workbench.content import load_catalog

    return load_catalog()


def starter_for(ref: ExerciseRef) -> str:
    return render(ref.target, ref.exercise.todo, ref.exercise.slots, solution=False)


def solution_for(ref: ExerciseRef) -> str:
    return render(ref.target, ref.exercise.todo, ref.exercise.slots, solution=True)


def starter_text(target: str) -> str:
    return starter_for(find(_catalog(), target))


def solution_text(target: str) -> str:
    return solution_for(find(_catalog(), target))


class FileExists(FileExistsError):
    """The learner file is there already and --force was not given."""


def write_learner(path: Path, text: str, force: bool) -> Path | None:
    """Write the learner file; with `force`, first move an existing one to `<name>.bak-<UTC>`. Returns the backup."""
    backup = None
    if path.exists():
        if not force:
            raise FileExists(f"{path} exists; it is yours and is never overwritten (use --force to back it up and start again)")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        path.rename(backup)
    write_text(path, text)
    return backup
