"""A review session's data: today's due cards paired with their quiz items, shared by CLI and TUI.

`due_count(conn)` is the seam the TUI home screen calls for its "due today" badge.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

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
