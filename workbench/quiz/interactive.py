"""Terminal prompts for a quiz and a review session (rich output, answers read from stdin).

Input goes through an `ask(prompt) -> str` callable so tests and pipes can drive it; end of
input (EOFError) aborts the session and the caller stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from workbench.content.schema import Quiz, QuizItem
from workbench.quiz import sm2
from workbench.quiz.grading import response_problem
from workbench.quiz.scoring import ItemResult, grade_item

Ask = Callable[[str], str]

HOW = {
    "single": "type the number (or letter) of one choice",
    "multi": "type every right number, e.g. 1 3",
    "ordering": "type the numbers in order, e.g. 2 1 3",
    "numeric": "type a number (1e-3, 0.001 and 1,000 all work)",
    "free": "answer in a sentence or two",
    "conjugation": "type the form",
}


def item_text(item: QuizItem, lang: str = "en") -> str:
    """The item's prompt (Spanish when asked and available) with numbered choices."""
    prompt = item.prompt_es if lang == "es" and item.prompt_es else item.prompt
    lines = [escape(prompt.strip())]
    lines += [f"  [bold]{i}[/]. {escape(c)}" for i, c in enumerate(item.choices, start=1)]
    return "\n".join(lines)


def show_result(console: Console, r: ItemResult) -> None:
    if r.correct:
        console.print("[green]✓ right[/]")
    else:
        console.print(f"[red]✗ wrong[/] — {escape(r.feedback)}" if r.feedback else "[red]✗ wrong[/]")
        console.print(f"  expected: {escape(r.expected)}")
    if r.explanation:
        console.print(f"  [dim]{escape(r.explanation.strip())}[/]")
    console.print()


def take_quiz(quiz: Quiz, console: Console, ask: Ask, lang: str = "en") -> dict[str, Any]:
    """Ask every item in order, showing feedback after each; returns {item id: raw answer}."""
    answers: dict[str, Any] = {}
    console.print(Panel(f"[bold]{escape(quiz.title)}[/]  ({len(quiz.items)} items, pass mark {quiz.pass_mark:.0%})"))
    for k, item in enumerate(quiz.items, start=1):
        console.print(f"[bold cyan]{k}/{len(quiz.items)}[/] [dim]{item.id} · {item.kind}[/]")
        console.print(item_text(item, lang))
        answers[item.id] = ask(f"[dim]{HOW[item.kind]}[/] > ")
        while (problem := response_problem(item, answers[item.id])) is not None:  # a slip: ask again, grade nothing
            console.print(f"[yellow]{escape(problem)}[/] — try again")
            answers[item.id] = ask(f"[dim]{HOW[item.kind]}[/] > ")
        show_result(console, grade_item(item, answers[item.id]))
    return answers


def grade_prompt(state: sm2.CardState | None, suggested: str) -> str:
    """`again (today) / hard (1 d) / good (1 d) / easy (4 d)`: each grade with the interval it gives."""
    days = sm2.preview(state) if state is not None else {}
    words = [
        f"[bold]{n[0]}[/]{n[1:]}" + (f" ({sm2.srs.interval_words(days[n])})" if n in days else "") for n in sm2.GRADES
    ]
    return "grade: " + " / ".join(words) + f" {escape(f'[{suggested}]')} > "


def review_card(
    item: QuizItem, console: Console, ask: Ask, state: sm2.CardState | None = None, lang: str = "en"
) -> int:
    """Show a card, let the learner try it, reveal the answer, and read the SM-2 grade (each key
    labelled with the interval it gives when the card's `state` is known)."""
    console.print(item_text(item, lang))
    attempt = ask(f"[dim]{HOW[item.kind]} (Enter to reveal)[/] > ")
    suggested = "again"
    if attempt.strip():
        result = grade_item(item, attempt)
        suggested = "good" if result.correct else "again"
        show_result(console, result)
    else:
        console.print(f"  answer: {escape(grade_item(item, None).expected)}")
        if item.explanation:
            console.print(f"  [dim]{escape(item.explanation.strip())}[/]")
    while True:
        raw = ask(grade_prompt(state, suggested))
        try:
            return sm2.parse_grade(raw.strip() or suggested)
        except ValueError as exc:
            console.print(f"[yellow]{escape(str(exc))}[/]")
