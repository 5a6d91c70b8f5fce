"""Fixture content for the quiz/progress/report tests: one phase, one quiz of every item kind,
and fake run manifests recorded straight into the run index (no lab subprocesses)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from workbench.content import Catalog, load_catalog
from workbench.content.schema import QuizItem
from workbench.quiz.grading import keyword_forms
from workbench.store.runs import record_run

PHASE = """\
id: 3
slug: fixture
title: Fixture phase
goal: Check that progress and reports read the evidence right.
labs:
  - {id: lab-00, title: A lab, status: planned}
done_when:
  - {text: loss under 0.5, check: {lab: lab-00, metric: loss, op: "<", value: 0.5}}
  - {text: quiz passed, quiz: true}
  - {text: journal entry, manual: true}
quiz: phase-03-fixture
"""

QUIZ = """\
id: phase-03-fixture
phase: 3
title: Fixture quiz
items:
  - {id: q-03-01, kind: single, prompt: one, choices: [a, b, c], answer: 2, explanation: b is right}
  - {id: q-03-02, kind: multi, prompt: two, choices: [a, b, c], answer: [1, 3]}
  - {id: q-03-03, kind: free, prompt: three, answer: it accumulates, keywords: [[accumulate, sum]]}
  - {id: q-03-04, kind: numeric, prompt: four, answer: 0.001, tolerance: 1.0e-6}
  - {id: q-03-05, kind: ordering, prompt: five, choices: [x, y, z], answer: [3, 1, 2]}
  - {id: q-03-06, kind: conjugation, prompt: six, answer: [written]}
"""

RIGHT = {"q-03-01": 2, "q-03-02": "1,3", "q-03-03": "gradients accumulate", "q-03-04": "1e-3",
         "q-03-05": "3 1 2", "q-03-06": "Written"}


def write_content(root: Path, phase: str = PHASE, quiz: str = QUIZ) -> Catalog:
    (root / "phases").mkdir(parents=True, exist_ok=True)
    (root / "quizzes").mkdir(parents=True, exist_ok=True)
    (root / "phases" / "phase-03-fixture.yaml").write_text(phase, encoding="utf-8")
    (root / "quizzes" / "phase-03-fixture.yaml").write_text(quiz, encoding="utf-8")
    return load_catalog(root)


def fake_run(conn: sqlite3.Connection, run_id: str, *, loss: float, quarantined: bool, run_dir: str,
             started_at: str = "2026-01-01T00:00:00Z", status: str = "passed") -> dict[str, Any]:
    manifest = {
        "schema_version": 1,
        "id": run_id,
        "target": {"name": "phase-03/lab-00", "kind": "lab", "phase": 3, "lab": "lab-00", "title": "A lab"},
        "status": status,
        "seed": 42,
        "config": {"quick": True, "seed": 42},
        "config_hash": "abc123",
        "git": {"sha": "f" * 40, "dirty": quarantined},
        "quarantined": quarantined,
        "started_at": started_at,
        "finished_at": started_at,
        "wall_seconds": 1.5,
        "checks": [{"name": "loss < 0.5", "metric": "loss", "op": "<", "expected": 0.5, "actual": loss,
                    "passed": loss < 0.5, "hard": True}],
        "results_summary": {"loss": loss, "steps": 100},
        "artifacts": [{"path": "charts/00-loss.png", "sha256": "0" * 64, "bytes": 10, "role": "chart"}],
    }
    record_run(conn, manifest, run_dir)
    return manifest


def right_answer(item: QuizItem) -> Any:
    """A correct response built from an item's answer key, as a learner would type it."""
    if item.kind == "free":
        return " and ".join(keyword_forms(entry)[0] for entry in item.keywords)
    if item.kind == "ordering":
        return " ".join(map(str, item.answer))
    if item.kind == "conjugation":
        return item.answer if isinstance(item.answer, str) else item.answer[0]
    if item.kind == "numeric":
        return str(item.answer)
    return item.answer
