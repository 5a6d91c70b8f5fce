"""A review session's data: today's due cards paired with their quiz items, shared by CLI and TUI,
and the TUI's session with Anki-style relearning steps (`Session`).

`due_count(conn)` is the seam the TUI home screen calls for its "due today" badge. The SM-2
step itself is engine.srs (one implementation); this module only orders the session.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from workbench.content.loader import Catalog
from workbench.content.schema import QuizItem
from workbench.quiz import cards
from workbench.quiz.progress import today_utc


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


def due_cards(catalog: Catalog, conn: sqlite3.Connection, today: date, cap: int = cards.DAILY_CAP) -> tuple[list[DueCard], int]:
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
PASS_GRADE = 3


def preview(state: cards.sm2.CardState, grade: int, relearning: bool = False) -> str:
    """What pressing `grade` would do, in words, before it is pressed: `1 d`, `6 d`, `in session`.

    The interval comes from the one SM-2 step (engine.srs.step), not a copy of it."""
    from engine import srs

    if grade < PASS_GRADE:
        return "again in this session"
    if relearning:
        return f"{max(1, state.interval)} d"  # already rescheduled by its lapse; passing the relearn step keeps it
    _, interval, _ = srs.step(srs.to_hundredths(state.ease), state.interval, state.repetitions, grade)
    return f"{interval} d"


@dataclass
class Session:
    """Today's queue, where a card graded below 3 is rescheduled once (SM-2: a lapse, due tomorrow)
    and also comes back in this session after `RELEARN_GAP` other cards, until it is passed.

    Passing a relearning card writes nothing more: its schedule was set by the lapse. The session
    ends when every card has been passed or the learner stops."""

    queue: list[DueCard]
    position: int = 0
    relearning: set[int] = field(default_factory=set)  # ids (id(DueCard)) of cards being relearned
    reviewed: list[tuple[str, int, cards.sm2.CardState]] = field(default_factory=list)
    lapsed_again: int = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.queue)

    @property
    def current(self) -> DueCard:
        return self.queue[self.position]

    @property
    def is_relearning(self) -> bool:
        return id(self.current) in self.relearning

    def remaining(self) -> int:
        return len(self.queue) - self.position

    def grade(self, conn: sqlite3.Connection, grade: int, today: date, now: datetime) -> str:
        """Apply `grade` to the current card and move on; returns what happened, in words."""
        due = self.current
        relearn = id(due) in self.relearning
        if relearn:
            what = "passed its relearning step" if grade >= PASS_GRADE else "again: back in a few cards"
            if grade < PASS_GRADE:
                self.lapsed_again += 1
        else:
            state = cards.record_review(conn, due.card.quiz_id, due.card.item_id, grade, today, now)
            self.reviewed.append((due.card.item_id, grade, state))
            due = DueCard(replace(due.card, state=state), due.item)
            what = f"next in {state.interval} d" if grade >= PASS_GRADE else "again: back in a few cards, then tomorrow"
        self.position += 1
        if grade < PASS_GRADE:
            again = due if not relearn else self.queue[self.position - 1]
            self.queue.insert(min(len(self.queue), self.position + RELEARN_GAP), again)
            self.relearning.add(id(again))
        return what
