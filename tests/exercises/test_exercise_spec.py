"""The `exercise:` block is validated like the rest of the content: one line naming file, lab and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.content import load_catalog

GOOD = {
    "file": "gradcheck.py",
    "slots": ["engine.scratch.autograd.gradcheck:scalar_gradcheck"],
    "todo": "write it",
    "hints": ["one", "two"],
    "probes": "workbench.exercises.probes.p07:gradcheck",
}


def _phase(tmp_path: Path, exercise: dict) -> Path:
    import yaml

    data = {"id": 97, "slug": "exercise-fixture", "title": "Fixture", "goal": "g",
            "labs": [{"id": "lab-01", "title": "t", "entry": "engine.labs.p07_scalar_autograd:gradcheck_lab",
                      "exercise": exercise}]}
    path = tmp_path / "phases" / "phase-97-exercise-fixture.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "expected"), [
    ({"slots": ["engine.scratch.autograd.gradcheck:nope"]}, "labs[0].exercise.slots[0]: 'engine.scratch.autograd.gradcheck:nope': engine.scratch.autograd.gradcheck defines no function nope"),
    ({"slots": ["engine.scratch.autograd.scalar:Value.nope"]}, "labs[0].exercise.slots[0]: 'engine.scratch.autograd.scalar:Value.nope': engine.scratch.autograd.scalar defines no class Value with a method nope"),
    ({"slots": ["no.such.module:f"]}, "labs[0].exercise.slots[0]: 'no.such.module:f': no module no.such.module"),
    ({"slots": ["just_a_name"]}, "labs[0].exercise.slots[0]: 'just_a_name' must look like"),
    ({"file": "../escape.py"}, "labs[0].exercise.file: '../escape.py' must be a plain Python file name"),
    ({"hints": ["only one"]}, "labs[0].exercise.hints: give 2 or 3 progressive hints (got 1)"),
    ({"probes": "workbench.exercises.probes.p07:missing"}, "labs[0].exercise.probes:"),
    ({"uses": ["phase-7/lab-1"]}, "labs[0].exercise.uses[0]: 'phase-7/lab-1' must be a target such as phase-07/lab-01"),
    ({"predictions": [{"metric": "m", "prompt": "p", "kind": "choice", "choices": ["a"]}]}, "labs[0].exercise.predictions[0].choices"),
    ({"colour": "red"}, "labs[0].exercise.colour: unknown key"),
])
def test_bad_exercise_blocks_are_one_clear_line(tmp_path: Path, change: dict, expected: str) -> None:
    path = _phase(tmp_path, {**GOOD, **change})
    catalog = load_catalog(tmp_path, extra=[])
    assert 97 not in catalog.phases
    (line,) = [e for e in catalog.errors if "phase-97" in e]
    assert line.startswith(f"{path.relative_to(tmp_path)}: ") and expected in line, line


def test_a_good_block_loads(tmp_path: Path) -> None:
    _phase(tmp_path, GOOD)
    catalog = load_catalog(tmp_path)
    assert catalog.phases[97].labs[0].exercise.slots == GOOD["slots"]
