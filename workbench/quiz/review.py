"""A review session's data: today's due cards paired with their quiz items, shared by CLI and TUI,
and the TUI's session with Anki-style relearning steps (`Session`).

`due_count(conn)` is the seam the TUI home screen calls for its "due today" badge. The SM-2
step itself is engine.apps.srs (one implementation); this module only orders the session.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from workbench.content.loader import Catalog
from workbench.content.schema import QuizItem
from workbench.progress import today_utc
from workbench.quiz import cards, sm2


@dataclass(frozen=True)
class DueCard:
    card: cards.Card
    item: QuizItem


def due_count(conn: sqlite3.Connection, today: date | None = None) -> int:
    """Cards due on or before today (UTC), before the daily cap."""
    return cards.due_count(conn, today or today_utc())


def item_of(catalog: Catalog, quiz_id: str, item_id: str) -> QuizItem | None:
    quiz = catalog.quizzes.get(quiz_id)
    return next((i for i in quiz.items if i.id == item_id), None) if quiz else None


def due_cards(
    catalog: Catalog, conn: sqlite3.Connection, today: date, cap: int = cards.DAILY_CAP
) -> tuple[list[DueCard], int]:
    """(today's queue with items, number of due cards skipped because their item left the content).

    A card whose item was removed stays in the deck untouched, in case the item comes back.
    """
    out, skipped = [], 0
    for card in cards.queue(conn, today, cap):
        item = item_of(catalog, card.quiz_id, card.item_id)
        if item is None:
            skipped += 1
        else:
            out.append(DueCard(card, item))
    return out, skipped


# ---------------------------------------------------------------- one session, with relearning steps

RELEARN_GAP = 3  # an "again" card comes back after this many other cards (Anki's relearning step)
PASS_GRADE = sm2.srs.PASS_GRADE


def preview(state: cards.sm2.CardState, grade: int) -> str:
    """What pressing `grade` would do, in words, before it is pressed: `today`, `1 d`, `4 d`.

    The interval comes from the one SM-2 step (engine.apps.srs, the deck's variant), not a copy of it."""
    days = sm2.srs.step(
        sm2.srs.to_hundredths(state.ease), state.interval, state.repetitions, grade, sm2.srs.DECK_VARIANT
    )[1]
    return sm2.srs.interval_words(days)


@dataclass
class Session:
    """Today's queue, shared by `workbench review` and the TUI. Every grade is a real SM-2 review
    (journaled). Again makes the card due today (interval 0, ease lowered); it comes back in this
    session after `RELEARN_GAP` other cards, and passing it then schedules it (1 day, Easy 4).
    A learner who stops mid-session finds the relearning card still due today, in any face."""

    queue: list[DueCard]
    position: int = 0
    reviewed: list[tuple[str, int, cards.sm2.CardState]] = field(default_factory=list)
    lapsed_again: int = 0  # relearning cards failed again

    @property
    def done(self) -> bool:
        return self.position >= len(self.queue)

    @property
    def current(self) -> DueCard:
        return self.queue[self.position]

    @property
    def is_relearning(self) -> bool:
        return self.current.card.state.relearning

    def remaining(self) -> int:
        return len(self.queue) - self.position

    def last_states(self) -> list[tuple[str, int, cards.sm2.CardState]]:
        """One row per card reviewed: its last grade and the schedule it ended with."""
        last = {item: (item, g, s) for item, g, s in self.reviewed}
        return list(last.values())

    def grade(self, conn: sqlite3.Connection, grade: int, today: date, now: datetime) -> str:
        """Apply `grade` to the current card and move on; returns what happened, in words."""
        due = self.current
        was_relearning = due.card.state.relearning
        state = cards.record_review(conn, due.card.quiz_id, due.card.item_id, grade, today, now)
        self.reviewed.append((due.card.item_id, grade, state))
        self.position += 1
        if state.due > today:
            return ("passed its relearning step: " if was_relearning else "") + f"next in {state.interval} d"
        self.lapsed_again += was_relearning
        self.queue.insert(
            min(len(self.queue), self.position + RELEARN_GAP), DueCard(replace(due.card, state=state), due.item)
        )
        return "again: back in a few cards"
