"""The Quiz screen: pick a phase's quiz, answer item by item, see feedback, store the attempt.

Every item kind is answered in one text box, as in the CLI (a choice number or letter,
"1 3" for multi-select, "2 1 3" for an ordering, a number, a sentence, a verb form), so the
graders in `workbench.quiz.grading` read exactly what the learner typed. Enter checks the
answer; Enter again moves on. A slip (a choice out of range, text with no number) is asked
again, as in the CLI, instead of being graded wrong and seeding a review card. The finished attempt
goes to SQLite (mode "tui") and its wrong answers seed review cards.

Standalone use: `QuizScreen(phase=7, catalog=..., conn=...)`; inside the workbench app the
catalog and connection come from `app.catalog` and `app.db()`.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from workbench.content.loader import Catalog
from workbench.content.schema import Quiz, QuizItem
from workbench.progress import quiz_for_phase, today_utc
from workbench.quiz import attempts
from workbench.quiz.grading import response_problem
from workbench.quiz.interactive import HOW
from workbench.quiz.scoring import ItemResult, QuizResult, grade_item, score_quiz
from workbench.tui.messages import CatalogLoaded
from workbench.tui.screens.standalone import StandaloneData


def esc(text: object) -> str:
    """Escape Textual markup in content text (YAML prompts hold brackets)."""
    s = str(text).replace("[", r"\[")
    return s + " " if s.endswith("\\") else s


def item_markup(item: QuizItem, lang: str = "en") -> str:
    prompt = item.prompt_es if lang == "es" and item.prompt_es else item.prompt
    lines = [esc(prompt.strip()), ""]
    lines += [f"  [b]{i}[/b]. {esc(c)}" for i, c in enumerate(item.choices, start=1)]
    return "\n".join(lines).rstrip()


def slip_markup(problem: str) -> str:
    """What the answer box says when it asks again (the same check as the CLI's re-ask)."""
    return f"[yellow]{esc(problem)}[/yellow] — try again (nothing was graded)"


def feedback_markup(r: ItemResult) -> str:
    lines = ["[green]✓ right[/green]" if r.correct else f"[red]✗ wrong[/red] {esc(r.feedback)}"]
    if not r.correct:
        lines.append(f"expected: {esc(r.expected)}")
    if r.explanation:
        lines.append(f"[dim]{esc(r.explanation.strip())}[/dim]")
    return "\n".join(lines)


def summary_markup(result: QuizResult) -> str:
    verdict = "[green]PASSED[/green]" if result.passed else "[red]below the pass mark[/red]"
    lines = [
        f"[b]{result.n_correct}/{len(result.items)}[/b] — {result.score:.0%}"
        f" (pass mark {result.pass_mark:.0%}) {verdict}",
        "",
    ]
    for r in result.items:
        mark = "[green]✓[/green]" if r.correct else "[red]✗[/red]"
        lines.append(f"{mark} {r.item_id} [dim]{r.kind}[/dim] {esc(r.given)}")
    if result.wrong:
        lines += ["", f"{len(result.wrong)} item(s) added to the review deck (v on the home screen)."]
    return "\n".join(lines)


class QuizScreen(StandaloneData, Screen):
    CSS_PATH = "quiz.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, phase: int | None = None, *, catalog: Catalog | None = None,
                 conn: sqlite3.Connection | None = None, today: date | None = None, lang: str = "en") -> None:
        super().__init__()
        self.phase = phase
        self._catalog, self._conn, self.today, self.lang = catalog, conn, today, lang
        self.quiz: Quiz | None = None
        self.index = 0
        self.answers: dict[str, Any] = {}
        self.stage = "pick"  # pick | answer | feedback | done
        self.started = datetime.now(UTC)
        self.result: QuizResult | None = None
        self.attempt_id: int | None = None

    # ------------------------------------------------------------------ data


    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("Quiz", id="quiz-title")
        yield OptionList(id="quiz-pick")
        with VerticalScroll(id="quiz-body", classes="hidden"):
            yield Static("", id="quiz-prompt")
            yield Static("", id="quiz-feedback")
        yield Input(id="quiz-answer", classes="hidden")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def on_catalog_loaded(self, _: CatalogLoaded) -> None:
        self.reload()

    def reload(self) -> None:
        """(Re)start from the catalog; the app calls this once its catalog has loaded."""
        catalog = self.catalog
        if catalog is None or self.stage != "pick":
            if catalog is None:
                self.query_one("#quiz-title", Static).update("Quiz — loading content…")
            return
        quiz = quiz_for_phase(catalog, self.phase) if self.phase is not None else None
        if quiz is not None:
            self.start(quiz)
            return
        self._show_picker(catalog)

    def _show_picker(self, catalog: Catalog) -> None:
        best = attempts.attempted_quizzes(self.db())
        picker = self.query_one("#quiz-pick", OptionList)
        picker.clear_options()
        for quiz in sorted(catalog.quizzes.values(), key=lambda q: (q.phase, q.id)):
            tried = best.get(quiz.id)
            score = f"best {tried['score']:.0%}" if tried else "not tried"
            picker.add_option(
                Option(f"{quiz.phase:02d}  {esc(quiz.title)}  [dim]{len(quiz.items)} items · {score}[/dim]", id=quiz.id)
            )
        missing = f" (phase {self.phase:02d} has no quiz)" if self.phase is not None else ""
        self.query_one("#quiz-title", Static).update(f"[b]Quizzes[/b]{missing} — enter to start")
        if picker.option_count:
            picker.highlighted = 0
        picker.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        catalog = self.catalog
        if catalog is not None and event.option.id in catalog.quizzes:
            self.start(catalog.quizzes[event.option.id])

    # ------------------------------------------------------------------ flow

    def start(self, quiz: Quiz) -> None:
        self.quiz, self.index, self.answers = quiz, 0, {}
        self.started = datetime.now(UTC)
        self.query_one("#quiz-pick").add_class("hidden")
        self.query_one("#quiz-body").remove_class("hidden")
        self.query_one("#quiz-answer").remove_class("hidden")
        self._show_item()

    @property
    def item(self) -> QuizItem:
        assert self.quiz is not None
        return self.quiz.items[self.index]

    def _show_item(self) -> None:
        assert self.quiz is not None
        self.stage = "answer"
        item = self.item
        self.query_one("#quiz-title", Static).update(
            f"[b]{esc(self.quiz.title)}[/b]  {self.index + 1}/{len(self.quiz.items)}"
            f"  [dim]{item.id} · {item.kind}[/dim]"
        )
        self.query_one("#quiz-prompt", Static).update(item_markup(item, self.lang))
        self.query_one("#quiz-feedback", Static).update("")
        box = self.query_one("#quiz-answer", Input)
        box.value = ""
        box.placeholder = HOW[item.kind] + " — enter to check"
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.stage == "answer":
            problem = response_problem(self.item, event.value)
            if problem is not None:  # a slip (choice out of range, no number): ask again, grade nothing
                self.query_one("#quiz-feedback", Static).update(slip_markup(problem))
                return
            self.answers[self.item.id] = event.value
            result = grade_item(self.item, event.value)
            self.query_one("#quiz-feedback", Static).update(feedback_markup(result))
            self.stage = "feedback"
            event.input.value = ""
            last = self.quiz is not None and self.index + 1 == len(self.quiz.items)
            event.input.placeholder = "enter: see your score" if last else "enter: next question"
        elif self.stage == "feedback":
            assert self.quiz is not None
            self.index += 1
            if self.index < len(self.quiz.items):
                self._show_item()
            else:
                self.finish()

    def finish(self) -> None:
        assert self.quiz is not None
        self.result = score_quiz(self.quiz, self.answers)
        today = self.today or today_utc()
        self.attempt_id = attempts.record(
            self.db(), self.result, started_at=self.started, finished_at=datetime.now(UTC), mode="tui", today=today
        )
        self.stage = "done"
        self.query_one("#quiz-title", Static).update(f"[b]{esc(self.quiz.title)}[/b] — result (escape: back)")
        self.query_one("#quiz-prompt", Static).update(summary_markup(self.result))
        self.query_one("#quiz-feedback", Static).update("")
        self.query_one("#quiz-answer").add_class("hidden")  # the verdict is in the summary, not a toast over it
