"""The quiz, review, progress and report commands: CLI glue between the store, the graders and rich.

Each function returns the process exit code: 0 ok (quiz passed), 1 below the pass mark or
report refused, 2 usage or content error, 3 interrupted (nothing stored).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.core.atomic import write_text
from workbench import progress, workspace
from workbench.content.loader import Catalog
from workbench.content.schema import Quiz
from workbench.progress.report import ReportRefused, build_report
from workbench.quiz import attempts, cards, interactive, review, sm2
from workbench.quiz.scoring import QuizResult, load_answers, score_quiz
from workbench.store import connect

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3


def _out() -> Console:
    return Console(highlight=False)


def _err(message: str) -> None:
    Console(stderr=True, highlight=False).print(f"[red]{escape(message)}[/]")


def parse_day(as_of: str | None) -> date:
    """--as-of YYYY-MM-DD, else today in UTC. Raises ValueError with a readable message."""
    if not as_of:
        return progress.today_utc()
    try:
        return date.fromisoformat(as_of)
    except ValueError:
        raise ValueError(f"--as-of {as_of!r}: expected a date like 2026-05-23") from None


def _content_errors_for(catalog: Catalog, needle: str) -> list[str]:
    return [e for e in catalog.errors if needle in e]


def find_quiz(catalog: Catalog, number: int) -> Quiz:
    quiz = progress.quiz_for_phase(catalog, number)
    if quiz is not None:
        return quiz
    problems = _content_errors_for(catalog, f"phase-{number:02d}-")
    detail = ("; ".join(problems)) if problems else f"no quizzes/phase-{number:02d}-*.yaml"
    raise LookupError(f"no quiz for phase {number:02d}: {detail}")


# ------------------------------------------------------------------ quiz


def print_result(console: Console, result: QuizResult, quiz: Quiz) -> None:
    table = Table(title=f"{quiz.id}: {result.n_correct}/{len(result.items)}")
    for col in ("item", "kind", "result", "your answer", "expected"):
        table.add_column(col, overflow="fold")
    for r in result.items:
        mark = "[green]right[/]" if r.correct else f"[red]wrong[/] {escape(r.feedback)}"
        table.add_row(r.item_id, r.kind, mark, escape(r.given), "" if r.correct else escape(r.expected))
    console.print(table)
    for r in result.items:
        if not r.correct and r.explanation:
            console.print(f"[bold]{r.item_id}[/] {escape(r.explanation.strip())}")
    verdict = "[green]PASSED[/]" if result.passed else "[red]below the pass mark[/]"
    console.print(f"score {result.score:.0%} (pass mark {result.pass_mark:.0%}) — {verdict}")
    if result.wrong:
        console.print(f"{len(result.wrong)} wrong answer(s) went to the review deck: `workbench review`")


def quiz_command(catalog: Catalog, number: int, answers_path: Path | None, *, as_json: bool, lang: str, as_of: str | None) -> int:
    try:
        if lang not in ("en", "es"):
            raise ValueError(f"--lang {lang!r}: expected en or es")
        today = parse_day(as_of)
        quiz = find_quiz(catalog, number)
        answers = load_answers(answers_path, quiz) if answers_path else None
    except (ValueError, LookupError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    started = datetime.now(UTC)
    if answers is None:
        console = _out()
        try:
            answers = interactive.take_quiz(quiz, console, console.input, lang)
        except (EOFError, KeyboardInterrupt):
            _err("quiz abandoned: nothing was stored")
            return EXIT_ABORTED
    result = score_quiz(quiz, answers)
    conn = connect()
    attempt_id = attempts.record(
        conn, result, started_at=started, finished_at=datetime.now(UTC), mode="answers" if answers_path else "interactive", today=today
    )
    conn.close()
    if as_json:
        print(json.dumps({"attempt": attempt_id, **result.to_json()}, indent=2, default=str))
    else:
        print_result(_out(), result, quiz)
    return EXIT_OK if result.passed else EXIT_FAIL


# ------------------------------------------------------------------ review


def review_command(catalog: Catalog, *, as_of: str | None, grades: str | None, limit: int, as_json: bool) -> int:
    try:
        today = parse_day(as_of)
        scripted = [sm2.parse_grade(g) for g in grades.replace(",", " ").split()] if grades is not None else None
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    conn = connect()
    queue, skipped = review.due_cards(catalog, conn, today, cap=limit)
    console = _out() if not as_json else Console(stderr=True, highlight=False)
    done: list[dict[str, Any]] = []
    session = review.Session(list(queue))  # an Again comes back a few cards later (relearning)
    while not session.done:
        card, item = session.current.card, session.current.item
        if scripted is not None:
            if not scripted:
                break
            grade = scripted.pop(0)
        else:
            again = " [yellow]relearning[/]" if session.is_relearning else ""
            console.print(f"\n[bold cyan]card {session.position + 1}/{len(session.queue)}[/]{again} [dim]{card.quiz_id} · {card.item_id}[/]")
            try:
                grade = interactive.review_card(item, console, console.input, card.state)
            except (EOFError, KeyboardInterrupt):
                console.print("[yellow]stopped; the reviews above are saved[/]")
                break
        what = session.grade(conn, grade, today, datetime.now(UTC))
        state = session.reviewed[-1][2]
        done.append({"quiz": card.quiz_id, "item": card.item_id, "grade": grade, "ease": state.ease,
                     "interval": state.interval, "repetitions": state.repetitions, "due": state.due.isoformat()})
        if not as_json:
            console.print(f"{card.item_id}: grade {grade} → {what}, due {state.due} (ease {state.ease:.2f})")
    left = len(cards.queue(conn, today, cap=limit))
    upcoming = cards.next_due(conn, today)
    conn.close()
    if as_json:
        print(json.dumps({"today": today.isoformat(), "reviewed": done, "left_today": left,
                          "next_due": upcoming.isoformat() if upcoming else None, "skipped": skipped}, indent=2))
        return EXIT_OK
    if not queue:
        console.print(f"nothing due on {today}" + (f"; next card due {upcoming}" if upcoming else "; the deck is empty"))
    else:
        console.print(f"{len(done)} reviewed, {left} left for {today}" + (f"; next due {upcoming}" if upcoming else ""))
    if skipped:
        console.print(f"[yellow]{skipped} card(s) skipped: their quiz item is no longer in the content[/]")
    if scripted:
        console.print(f"[yellow]{len(scripted)} grade(s) unused: the queue ran out[/]")
    return EXIT_OK


# ------------------------------------------------------------------ progress

GLYPH = {progress.State.DONE: "[green]●[/]", progress.State.IN_PROGRESS: "[yellow]◐[/]", progress.State.NOT_STARTED: "[dim]○[/]"}


def _progress_json(p: progress.PhaseProgress) -> dict[str, Any]:
    return {"phase": p.phase, "title": p.title, "state": p.state.value, "has_content": p.has_content, "runs": p.n_runs, "quiz": p.quiz_id,
            "quiz_best": p.quiz_best, "items": [vars(i) for i in p.items], "exercises": p.exercises}


def progress_command(catalog: Catalog, number: int | None, *, as_json: bool) -> int:
    conn = connect()
    if number is not None:
        prog = {number: progress.phase_progress(catalog, conn, number)}
    else:
        prog = progress.details(catalog, conn)
    due = progress.due_count(conn)
    conn.close()
    if as_json:
        print(json.dumps({"phases": [_progress_json(p) for p in prog.values()], "cards_due": due}, indent=2))
        return EXIT_OK
    console = _out()
    if number is None:
        cells = [f"{n:02d}{GLYPH[p.state] if p.has_content or p.state != progress.State.NOT_STARTED else '[dim]·[/]'}"
                 for n, p in prog.items()]
        for row in range(0, len(cells), 14):
            console.print(" ".join(cells[row : row + 14]))
        counts = {s: sum(p.state == s for p in prog.values()) for s in progress.State}
        console.print(f"[green]● done {counts[progress.State.DONE]}[/]  [yellow]◐ in progress {counts[progress.State.IN_PROGRESS]}[/]"
                      f"  [dim]○ not started {counts[progress.State.NOT_STARTED]} (· no content yet)[/]"
                      f"   review cards due today: {due}\n")
    for n, p in prog.items():
        if number is None and p.state != progress.State.IN_PROGRESS:
            continue
        console.print(f"{GLYPH[p.state]} [bold]phase {n:02d}[/] {escape(p.title)} — {p.state.value.replace('_', ' ')}")
        shown = p.items if number is not None else p.gaps
        for item in shown:
            mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]?[/]"}[item.met]
            console.print(f"   {mark} {escape(item.text)} [dim]— {escape(item.evidence)}[/]")
        if number is not None and p.exercises:
            from workbench.exercises.progress import describe

            console.print("   exercises:")
            for ex in p.exercises:
                console.print(f"   {'[green]✓[/]' if ex['learner_passed'] else '·'} {escape(describe(ex))}")
    return EXIT_OK


# ------------------------------------------------------------------ report


def report_command(catalog: Catalog, number: int) -> int:
    conn = connect()
    try:
        report = build_report(catalog, conn, number, workspace.home())
    except ReportRefused as exc:
        _err(f"no report for phase {number:02d}: {exc}")
        return EXIT_FAIL
    finally:
        conn.close()
    write_text(report.path, report.text)
    print(f"wrote {report.path}", file=sys.stdout)
    return EXIT_OK
