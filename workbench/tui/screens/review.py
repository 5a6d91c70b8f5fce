"""The Review screen: today's due cards (SM-2), one at a time, with relearning steps.

Each card shows its quiz item; type an answer and press Enter to check it (or just Enter
to reveal), then grade how well you knew it: 1 Again, 2 Hard, 3 Good, 4 Easy (SM-2 grades
0/3/4/5), or Enter for the suggested grade. Each key shows the interval it would give
before you press it (a new card: again today, hard 1 d, good 1 d, easy 4 d). A card you got
wrong (Again) is due again today and comes back a few cards later in this session until you pass it
(`workbench.quiz.review.Session`); the SM-2 step is engine.apps.srs, the daily cap (30) and
the queue order (oldest due first) follow `workbench.quiz.cards`.

Standalone use: `ReviewScreen(catalog=..., conn=..., today=date(...))`; inside the app the
catalog and connection come from `app.catalog` and `app.db()`.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from workbench.content.loader import Catalog
from workbench.progress import today_utc
from workbench.quiz import cards
from workbench.quiz.grading import response_problem
from workbench.quiz.interactive import HOW
from workbench.quiz.review import DueCard, Session, due_cards, preview
from workbench.quiz.scoring import grade_item
from workbench.tui.messages import CatalogLoaded
from workbench.tui.screens.quiz import esc, feedback_markup, item_markup, slip_markup
from workbench.tui.screens.standalone import StandaloneData

GRADE_WORDS = {0: "again", 3: "hard", 4: "good", 5: "easy"}
GRADE_KEYS = {0: "1", 3: "2", 4: "3", 5: "4"}


class ReviewScreen(StandaloneData, Screen):
    CSS_PATH = "quiz.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "grade(0)", "Again"),
        Binding("2", "grade(3)", "Hard"),
        Binding("3", "grade(4)", "Good"),
        Binding("4", "grade(5)", "Easy"),
        Binding("enter", "grade_suggested", "Suggested", show=False),
    ]

    def __init__(self, phase: int | None = None, *, catalog: Catalog | None = None,
                 conn: sqlite3.Connection | None = None, today: date | None = None, cap: int = cards.DAILY_CAP) -> None:
        super().__init__()
        self.phase = phase  # reviews span every phase; kept for the app's slot signature
        self._catalog, self._conn, self.today, self.cap = catalog, conn, today or today_utc(), cap
        self.session = Session([])
        self.skipped = 0
        self.stage = "loading"  # loading | ask | grade | done
        self.suggested = 4

    @property
    def reviewed(self) -> list[tuple[str, int, cards.sm2.CardState]]:
        return self.session.reviewed

    @property
    def queue(self) -> list[DueCard]:
        return self.session.queue

    def compose(self) -> ComposeResult:
        yield Static("Review", id="review-title")
        with VerticalScroll(id="review-body"):
            yield Static("", id="review-prompt")
            yield Static("", id="review-feedback")
        yield Static("", id="review-keys")
        yield Input(id="review-answer")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def on_catalog_loaded(self, _: CatalogLoaded) -> None:
        self.reload()

    def reload(self) -> None:
        catalog = self.catalog
        if catalog is None:
            self.query_one("#review-title", Static).update("Review — loading content…")
            return
        if self.stage != "loading":
            return
        queue, self.skipped = due_cards(catalog, self.db(), self.today, self.cap)
        self.session = Session(queue)
        self._show_card()

    @property
    def current(self) -> DueCard:
        return self.session.current

    def _show_card(self, last: str = "") -> None:
        if self.session.done:
            self._finish()
            return
        self.stage = "ask"
        due = self.current
        relearn = " [yellow]relearning[/yellow]" if self.session.is_relearning else ""
        self.query_one("#review-title", Static).update(
            f"[b]Review[/b] {self.today}  {self.session.remaining()} left{relearn}  "
            f"[dim]{due.card.quiz_id} · {due.card.item_id} · ease {due.card.state.ease:.2f}[/dim]"
        )
        self.query_one("#review-prompt", Static).update(item_markup(due.item))
        self.query_one("#review-feedback", Static).update(f"[dim]{esc(last)}[/dim]" if last else "")
        self.query_one("#review-keys", Static).update("")
        box = self.query_one("#review-answer", Input)
        box.remove_class("hidden")
        box.disabled = False
        box.value = ""
        box.placeholder = HOW[due.item.kind] + " — enter to check (empty: reveal)"
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.stage != "ask":
            return
        event.stop()
        item = self.current.item
        problem = response_problem(item, event.value)
        if problem is not None:  # a slip, not a wrong answer: ask again rather than suggest "again"
            self.query_one("#review-feedback", Static).update(slip_markup(problem))
            return
        if event.value.strip():
            result = grade_item(item, event.value)
            self.suggested = 4 if result.correct else 0
            text = feedback_markup(result)
        else:
            self.suggested = 0
            revealed = grade_item(item, None)
            text = f"answer: {esc(revealed.expected)}" + (
                f"\n[dim]{esc(item.explanation.strip())}[/dim]" if item.explanation else ""
            )
        self.query_one("#review-feedback", Static).update(text)
        self.query_one("#review-keys", Static).update(self.keys_markup())
        self.stage = "grade"
        event.input.disabled = True
        event.input.add_class("hidden")
        self.set_focus(None)

    def action_grade_suggested(self) -> None:
        self.action_grade(self.suggested)

    def keys_markup(self) -> str:
        """The four grade keys, each with the interval it gives (computed by engine.apps.srs, not guessed)."""
        state = self.current.card.state
        parts = [f"[b]{GRADE_KEYS[g]}[/b] {GRADE_WORDS[g]} [dim]→ {preview(state, g)}[/dim]" for g in GRADE_KEYS]
        return "grade it: " + " · ".join(parts) + f" · enter = {GRADE_WORDS[self.suggested]}"

    def action_grade(self, grade: int) -> None:
        if self.stage != "grade":
            return
        item_id = self.current.card.item_id
        what = self.session.grade(self.db(), grade, self.today, datetime.now(UTC))
        self._show_card(last=f"{item_id}: {GRADE_WORDS[grade]} — {what}")

    def _finish(self) -> None:
        self.stage = "done"
        box = self.query_one("#review-answer", Input)
        box.add_class("hidden")
        box.disabled = True
        upcoming = cards.next_due(self.db(), self.today)
        lines = [
            f"{len(self.session.last_states())} card(s) reviewed." if self.reviewed else f"Nothing due on {self.today}."
        ]
        lines += [
            f"  {item}: {GRADE_WORDS[g]} → due {s.due} (every {s.interval} d, ease {s.ease:.2f})"
            for item, g, s in self.session.last_states()
        ]
        if upcoming:
            lines.append(f"Next card due {upcoming}.")
        if self.skipped:
            lines.append(
                f"[yellow]{self.skipped} card(s) skipped: their quiz item is no longer in the content.[/yellow]"
            )
        self.query_one("#review-title", Static).update("[b]Review[/b] — done for today (escape: back)")
        self.query_one("#review-prompt", Static).update("\n".join(lines))
        self.query_one("#review-feedback", Static).update("")
