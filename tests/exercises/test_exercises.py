"""Every exercise, judged in-process: the starter fails naming its first slot, the generated
solution passes (probes and the lab's hard checks, quick mode), and every shipped learner mutant
(tests/exercises/mutants/pNN.yaml) fails. A mutant's `find` must match the solution exactly once."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest
import yaml

from workbench.content import load_catalog
from workbench.exercises.catalog import all_exercises
from workbench.exercises.files import solution_text, starter_text
from workbench.exercises.judge import judge_source
from workbench.exercises.source import slot_sources
from workbench.exercises.spec import parse_slot

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = Path(__file__).with_name("mutants")
# labs whose quick run takes more than a few seconds: their "solution passes" runs in the slow set
SLOW_LABS = {"phase-01/lab-01", "phase-01/lab-02", "phase-01/lab-03", "phase-09/lab-02", "phase-10/lab-01", "phase-10/lab-02",
             "phase-10/lab-03", "phase-10/lab-04"}
SLOW_LABS |= {"phase-13/lab-02", "phase-17/lab-03", "phase-18/lab-01", "phase-19/lab-00", "phase-19/lab-03",
              "phase-19/lab-04", "phase-20/lab-01", "phase-16/lab-03", "phase-21/lab-03"}  # phases 11-22: quick runs of 2-13 s


@cache
def exercises() -> dict[str, object]:
    return {ref.target: ref for ref in all_exercises(load_catalog(ROOT))}


@cache
def mutants() -> list[dict[str, str]]:
    out = []
    for path in sorted(MUTANTS.glob("p*.yaml")):
        for i, item in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            out.append({**item, "id": f"{path.stem}[{i}]"})
    return out


def _targets(slow: bool = False) -> list[object]:
    return [pytest.param(t, id=t, marks=[pytest.mark.slow] if slow and t in SLOW_LABS else []) for t in exercises()]


@pytest.mark.parametrize("target", _targets())
def test_starter_fails_naming_its_first_slot(target: str) -> None:
    verdict = judge_source(target, starter_text(target), run_lab=False)
    first = parse_slot(exercises()[target].exercise.slots[0]).qualname  # type: ignore[attr-defined]
    assert not verdict.passed
    assert verdict.unimplemented and verdict.unimplemented[0].startswith(first + " "), verdict.summary()
    assert first in verdict.summary()


@pytest.mark.parametrize("target", _targets())
def test_starter_holds_no_solution(target: str) -> None:
    """No statement of a slot's reference body (beyond its docstring) appears in the starter."""
    starter = starter_text(target)
    ast.parse(starter)
    for src in slot_sources(exercises()[target].exercise.slots):  # type: ignore[attr-defined]
        body = src.node.body[1:] if ast.get_docstring(src.node) else src.node.body
        for stmt in body:
            line = src.lines[stmt.lineno - 1].strip()
            if len(line) > 12:
                assert line not in starter, f"{target}: starter leaks {line!r}"


@pytest.mark.parametrize("target", _targets(slow=True))
def test_solution_passes(target: str) -> None:
    verdict = judge_source(target, solution_text(target))
    assert verdict.passed, verdict.summary()


def test_every_exercise_ships_three_mutants() -> None:
    counts = dict.fromkeys(exercises(), 0)
    for m in mutants():
        assert m["exercise"] in counts, f"{m['id']}: no exercise {m['exercise']}"
        counts[m["exercise"]] += 1
    few = {t: n for t, n in counts.items() if n < 3}
    assert not few, f"exercises with fewer than 3 mutants: {few}"


@pytest.mark.parametrize("mutant", [pytest.param(m, id=f"{m['id']}-{m['exercise']}") for m in mutants()])
def test_mutant_is_caught(mutant: dict[str, str]) -> None:
    solution = solution_text(mutant["exercise"])
    assert solution.count(mutant["find"]) == 1, f"{mutant['id']}: find must match the solution once"
    broken = solution.replace(mutant["find"], mutant["replace"])
    verdict = judge_source(mutant["exercise"], broken)
    assert not verdict.passed, f"{mutant['id']} ({mutant['bug']}) survived the judge"
