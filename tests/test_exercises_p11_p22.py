"""Exercises of phases 11-22: what tests/exercises/test_exercises.py (stub fails, solution passes,
every mutant fails, for every exercise) does not already check.

- coverage: at least two exercises in every phase 11-22, each with a probe and three mutants;
- each prediction names a metric its lab really reports, and each `uses:` an earlier exercise;
- the probes alone (no lab run) catch every shipped mutant of phases 11-22 and their message names
  the slot or the learner's file:line (one mutant per exercise by default, all of them in the slow set);
- one end-to-end `workbench start / check` round trip on a phase-15 exercise (slow: subprocesses).
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests import labkit
from workbench.content import load_catalog
from workbench.exercises.catalog import all_exercises
from workbench.exercises.files import solution_text
from workbench.exercises.judge import judge_source

ROOT = Path(__file__).resolve().parents[1]
PHASES = range(11, 23)
MUTANTS = ROOT / "tests" / "exercises" / "mutants"


@cache
def exercises() -> dict[str, object]:
    return {r.target: r for r in all_exercises(load_catalog(ROOT)) if int(r.target[6:8]) in PHASES}


@cache
def mutants() -> list[dict[str, str]]:
    out = []
    for phase in PHASES:
        path = MUTANTS / f"p{phase:02d}.yaml"
        for i, item in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            out.append({**item, "id": f"p{phase:02d}[{i}]"})
    return out


def test_every_phase_has_two_exercises_with_probes_and_mutants() -> None:
    per_phase = {p: [t for t in exercises() if int(t[6:8]) == p] for p in PHASES}
    assert all(len(v) >= 2 for v in per_phase.values()), {p: len(v) for p, v in per_phase.items()}
    assert len(exercises()) >= 33
    counts = {t: sum(m["exercise"] == t for m in mutants()) for t in exercises()}
    assert min(counts.values()) >= 3, counts
    for target, ref in exercises().items():
        assert ref.exercise.probes, f"{target}: no probes"  # type: ignore[attr-defined]
        assert 2 <= len(ref.exercise.hints) <= 3  # type: ignore[attr-defined]


def test_uses_point_at_earlier_exercises() -> None:
    everything = {r.target for r in all_exercises(load_catalog(ROOT))}
    for target, ref in exercises().items():
        for dep in ref.exercise.uses:  # type: ignore[attr-defined]
            assert dep in everything, f"{target}: uses {dep}, which has no exercise"
            assert dep < target, f"{target}: uses {dep}, which comes later in the course"


PREDICTED = [(t, p.metric) for t, r in sorted(exercises().items()) for p in r.exercise.predictions]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("target", "metric"), PREDICTED, ids=[f"{t}:{m}" for t, m in PREDICTED])
def test_prediction_metric_is_reported_by_the_lab(target: str, metric: str) -> None:
    result, _ = labkit.outcome(target)
    assert isinstance(result.get(metric), (int, float)), f"{target}: the lab reports no number {metric!r}"


def _first_of_each(ms: list[dict[str, str]]) -> set[str]:
    seen: dict[str, str] = {}
    for m in ms:
        seen.setdefault(m["exercise"], m["id"])
    return set(seen.values())


FAST = _first_of_each(mutants())  # one mutant per exercise in the default run, the rest with the slow set


@pytest.mark.parametrize("mutant", [pytest.param(m, id=f"{m['id']}-{m['exercise']}",
                                                 marks=[] if m["id"] in FAST else [pytest.mark.slow]) for m in mutants()])
def test_probes_alone_catch_the_mutant(mutant: dict[str, str]) -> None:
    """The fast half of the judge, no lab run: learner vs reference on seeded inputs names the bug."""
    solution = solution_text(mutant["exercise"])
    verdict = judge_source(mutant["exercise"], solution.replace(mutant["find"], mutant["replace"]), run_lab=False)
    assert not verdict.passed and verdict.messages, f"{mutant['id']} ({mutant['bug']}) passed the probes"
    slots = [s.rpartition(":")[2] for s in exercises()[mutant["exercise"]].exercise.slots]  # type: ignore[attr-defined]
    names = {n for s in slots for n in (s, s.rpartition(".")[2])}
    assert any(n in verdict.messages[0] for n in names) or ".py:" in verdict.messages[0], verdict.messages[0]


def _workbench(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.mark.slow
def test_cli_round_trip_on_phase_15_attention(tmp_path: Path) -> None:
    target = "phase-15/lab-00"
    assert _workbench(tmp_path, "start", target).returncode == 0
    stub = _workbench(tmp_path, "check", target, "--quick")
    assert stub.returncode == 1 and "attention" in stub.stdout + stub.stderr
    path = tmp_path / "learner" / "phase-15" / "attention.py"
    assert _workbench(tmp_path, "start", target, "--solution", "--force").returncode == 0
    assert _workbench(tmp_path, "check", target, "--quick").returncode == 0
    mutant = next(m for m in mutants() if m["exercise"] == target and "axis=-2" in m["replace"])
    path.write_text(path.read_text(encoding="utf-8").replace(mutant["find"], mutant["replace"]), encoding="utf-8")
    bad = _workbench(tmp_path, "check", target, "--quick")
    assert bad.returncode == 1, bad.stdout[-2000:]
