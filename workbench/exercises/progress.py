"""What the learner did on a phase's exercises, for `workbench progress` and the phase report.

A lab with an exercise counts for the Definition of Done only through a finished run with
`impl: learner`; `is_learner_run` is that rule. Reference runs of such a lab are shown as a
demonstration. `exercise_rows` lists each exercise's state, hints used and solution flags.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from workbench.content.schema import Phase


def has_exercise(phase: Phase, lab_id: str) -> bool:
    return any(lab.id == lab_id and lab.exercise is not None for lab in phase.labs)


def is_learner_run(run: dict[str, Any]) -> bool:
    return (run.get("manifest") or {}).get("impl") == "learner"


def exercise_rows(phase: Phase, conn: sqlite3.Connection, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from workbench.exercises.catalog import ExerciseRef
    from workbench.exercises.state import state_of

    rows = []
    for lab in phase.labs:
        if lab.exercise is None or lab.status != "ready":
            continue
        ref = ExerciseRef(phase.id, lab, lab.exercise)
        st = state_of(conn, ref)
        target = ref.target
        learner_passed = any(r["target"] == target and r["status"] == "passed" and is_learner_run(r) for r in runs)
        mine = [r for r in runs if r["target"] == target and is_learner_run(r)]
        predictions = (mine[-1]["manifest"].get("exercise") or {}).get("predictions", []) if mine else []
        rows.append({"target": target, "title": lab.title, "state": st.state, "learner_passed": learner_passed,
                     "hints_used": st.hints_used, "hints_total": len(lab.exercise.hints),
                     "solution_seen": st.solution_seen, "solution_before_attempt": st.solution_before_attempt,
                     "attempts": st.attempts, "predictions": predictions})
    return rows


def describe(row: dict[str, Any]) -> str:
    done = "done by you" if row["learner_passed"] else row["state"]
    flags = [f"hints {row['hints_used']}/{row['hints_total']}"]
    if row["solution_before_attempt"]:
        flags.append("solution seen before attempt")
    elif row["solution_seen"]:
        flags.append("solution seen")
    flags += [
        f"predicted {p['metric']} = {p['predicted']}, measured {p['measured']}" for p in row.get("predictions", [])
    ]
    return f"{row['target']} {row['title']}: {done} ({', '.join(flags)})"
