"""PHASE_NN_REPORT.md: the gate document of a phase, written from evidence only.

The course makes the report the gate to the next phase and blocks it below the quiz pass
mark. So `build_report` refuses (ReportRefused) when the phase's quiz has no attempt at or
above its pass mark, or when the phase has runnable labs and none has been run. Everything
in the report is cited: run ids from the manifests, numbers from their results summaries,
chart paths from their artifacts, the quiz attempt's score and date.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.content.loader import Catalog
from workbench.progress import PhaseProgress, phase_progress, phase_runs, quiz_for_phase
from workbench.quiz import attempts

MAX_NUMBERS = 12  # key numbers shown per run


class ReportRefused(Exception):
    """The phase is not ready for its report; the message says why."""


@dataclass(frozen=True)
class Report:
    path: Path
    text: str


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def _latest_per_target(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Newest run per target, preferring a clean (non-quarantined) one when there is any."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:  # oldest first
        held = out.get(run["target"])
        if held is None or not run["quarantined"] or held["quarantined"]:
            out[run["target"]] = run
    return out


def _chart_paths(run: dict[str, Any], home: Path) -> list[str]:
    run_dir = Path(run["run_dir"])
    paths = []
    for art in run["manifest"].get("artifacts", []):
        if art.get("role") == "chart":
            full = run_dir / art["path"]
            paths.append(full.relative_to(home).as_posix() if full.is_relative_to(home) else str(full))
    return paths


def _run_section(run: dict[str, Any], home: Path) -> list[str]:
    m = run["manifest"]
    checks = m.get("checks") or []
    passed = sum(1 for c in checks if c.get("passed"))
    flags = []
    if run["quarantined"]:
        flags.append("QUARANTINED (dirty git tree: not DoD evidence)")
    if (m.get("config") or {}).get("quick"):
        flags.append("quick mode")
    git = m.get("git") or {}
    brk = m.get("break") or {}
    heading = f"### {run['target']}"
    if (m.get("target") or {}).get("kind") == "break":
        heading += f" — break: {brk.get('title') or m['target'].get('title')} ({m['status']})"
    lines = [
        heading,
        "",
        f"- run `{m['id']}` — status **{m['status']}**, checks {passed}/{len(checks)}, "
        f"seed {m.get('seed')}, config `{m.get('config_hash')}`, git `{str(git.get('sha', 'n/a'))[:12]}`, "
        f"{m.get('wall_seconds')} s" + (f" — {'; '.join(flags)}" if flags else ""),
    ]
    summary = m.get("results_summary") or {}
    if summary:
        lines += ["", "| number | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in list(summary.items())[:MAX_NUMBERS]]
        if len(summary) > MAX_NUMBERS:
            lines.append(f"| … | {len(summary) - MAX_NUMBERS} more in the manifest |")
    failed = [c for c in checks if not c.get("passed")]
    for c in failed:
        lines.append(
            f"- failed check: {c['name']} (actual {_fmt(c.get('actual'))}, {'hard' if c.get('hard') else 'soft'})"
        )
    charts = _chart_paths(run, home)
    if charts:
        lines += ["", "Charts: " + ", ".join(f"[{Path(p).name}]({p})" for p in charts)]
    return lines + [""]


def _dod_section(prog: PhaseProgress) -> list[str]:
    mark = {True: "[x]", False: "[ ]", None: "[?]"}
    lines = ["## Definition of Done", ""]
    lines += [f"- {mark[i.met]} {i.text} — {i.evidence}" for i in prog.items]
    verdict = (
        "all automatable items met" if prog.state == "done" else f"{len(prog.gaps)} automatable item(s) still open"
    )
    return lines + ["", f"Status: **{prog.state.value.replace('_', ' ')}** ({verdict}; [?] items are manual).", ""]


def _exercise_section(prog: PhaseProgress) -> list[str]:
    """Which exercise labs the learner did with their own code; hints used; solution-seen flags."""
    if not prog.exercises:
        return []
    from workbench.exercises.progress import describe

    lines = ["## Exercises (your code)", ""]
    lines += [f"- {'[x]' if row['learner_passed'] else '[ ]'} {describe(row)}" for row in prog.exercises]
    return lines + ["", "Reference runs of these labs are a demonstration; only a passing run of your code counts.", ""]


def build_report(
    catalog: Catalog, conn: sqlite3.Connection, number: int, home: Path, now: datetime | None = None
) -> Report:
    now = now or datetime.now(UTC)
    phase = catalog.phases.get(number)
    if phase is None:
        raise ReportRefused(f"no phase {number:02d} in the content")
    quiz = quiz_for_phase(catalog, number)
    if quiz is None:
        raise ReportRefused(f"phase {number:02d} has no quiz file, so it cannot be passed yet")
    best = attempts.best_attempt(conn, quiz.id)
    if best is None:
        raise ReportRefused(f"no attempt at {quiz.id}: take it first with `workbench quiz {number}`")
    if best["score"] < quiz.pass_mark - 1e-9:
        raise ReportRefused(
            f"best attempt at {quiz.id} scored {best['score']:.0%}, below the pass mark {quiz.pass_mark:.0%}"
        )
    runs = phase_runs(conn, number)
    runnable = [lab for lab in phase.labs if lab.status == "ready" and lab.entry]
    if runnable and not runs:
        raise ReportRefused(f"no runs of {phase.key} yet: run `workbench run {phase.key}` first")

    prog = phase_progress(catalog, conn, number)
    wrong = [a["item_id"] for a in attempts.answers_of(conn, best["id"]) if not a["correct"]]
    lines = [
        f"# Phase {number:02d} report — {phase.title}",
        "",
        f"Generated {now.isoformat(timespec='seconds')} by `workbench report {number}`"
        " from the run index and quiz attempts.",
        "",
        "## Goal",
        "",
        phase.goal.strip(),
        "",
        "## Quiz",
        "",
        f"- {quiz.id}: **{best['score']:.0%}** ({best['correct']}/{best['total']}), pass mark {quiz.pass_mark:.0%} — "
        f"attempt #{best['id']} finished {best['finished_at']} ({best['mode']}, {best['seconds']:.0f} s)",
        f"- items missed in that attempt: {', '.join(wrong) if wrong else 'none'}",
        "",
        *_dod_section(prog),
        *_exercise_section(prog),
        "## Runs",
        "",
    ]
    latest = _latest_per_target(runs)
    if not latest:
        lines += ["No runs: this phase has no runnable labs.", ""]
    for target in sorted(latest):
        lines += _run_section(latest[target], home)
    lines += [
        f"{len(runs)} run(s) of {phase.key} are in the index;"
        " this report cites the newest per target (clean runs first).",
        "",
    ]
    return Report(home / f"PHASE_{number:02d}_REPORT.md", "\n".join(lines))
