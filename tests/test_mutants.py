"""The mutation harness's data stays applicable: every mutant in tests/mutants/*.yaml names an
existing file holding its original snippet exactly once, and labs that exist and are ready.

A refactor that moves or rewrites mutated code fails here with the YAML file and mutant id, so
the mutant is moved along with the code instead of silently turning into a skip.
"""

from __future__ import annotations

import pytest

from benchmarks.mutate import load_mutants, snippet_problem
from tests import labkit

MUTANTS = load_mutants()


def test_there_are_enough_mutants() -> None:
    assert len(MUTANTS) >= 200, len(MUTANTS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_snippet_found_exactly_once(mutant) -> None:  # type: ignore[no-untyped-def]
    problem = snippet_problem(mutant)
    assert problem is None, problem


def test_every_named_lab_is_ready() -> None:
    problems = []
    for m in MUTANTS:
        for target in m.labs:
            try:
                req = labkit.request(target)
            except Exception as exc:  # noqa: BLE001 - reported with the mutant's name
                problems.append(f"{m.source}: mutant {m.id}: lab {target}: {exc}")
                continue
            if req.status != "ready" or not req.entry:
                problems.append(f"{m.source}: mutant {m.id}: lab {target} is {req.status}, not ready")
    assert not problems, "\n".join(problems)
