"""SM-2 spaced repetition as a pure function (no clock, no I/O), for the portal's review loop.

Standard SM-2: a grade below 3 resets the repetition count and brings the card back tomorrow; ease
changes on every review by 0.1 - (5-q)(0.08 + (5-q)0.02), floored at 1.3; intervals 1, 6, then the
previous interval x ease rounded half up. The variant "portal" (the course's theory page) instead
subtracts a flat 0.20 from the ease on a failure and lets the next success resume at 6 days
(repetitions drop to 1, not 0): grades 4,4,0,4,4,4 give 1, 6, 1, 6, 14, 32 at ease 2.3.
This is the one implementation of the SM-2 step: workbench/quiz/sm2.py (the review deck) calls it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

BUTTONS = {"again": 0, "hard": 2, "good": 4, "easy": 5}
MIN_EASE = 1.3


@dataclass(frozen=True)
class Card:
    due: date
    ease: float = 2.5
    interval: int = 0
    repetitions: int = 0


def ease_delta(grade: int) -> float:
    """0.1 - (5-q)(0.08 + (5-q)0.02), in exact hundredths: q0 -0.80, q2 -0.32, q3 -0.14, q4 0, q5 +0.10."""
    miss = 5 - grade
    return (10 - miss * (8 + miss * 2)) / 100


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def seed_card(today: date, ease: float = 2.5) -> Card:
    """A wrong exam answer becomes a card due tomorrow."""
    return Card(due=today + timedelta(days=1), ease=ease)


def review(card: Card, grade: int, today: date, variant: str = "standard") -> Card:
    if not 0 <= grade <= 5:
        raise ValueError(f"grade must be 0..5, got {grade}")
    if grade < 3:
        interval = 1
        reps = 0 if variant == "standard" else min(card.repetitions, 1)
        ease = card.ease + ease_delta(grade) if variant == "standard" else card.ease - 0.20
    else:
        reps = card.repetitions + 1
        interval = 1 if reps == 1 else 6 if reps == 2 else max(1, round_half_up(card.interval * card.ease))
        ease = card.ease + ease_delta(grade)
    ease = max(MIN_EASE, round(ease, 2))
    return replace(card, ease=ease, interval=interval, repetitions=reps, due=today + timedelta(days=interval))


def due_queue(cards: dict[str, Card], today: date, cap: int = 30) -> list[str]:
    """Cards due today or earlier, oldest due first, at most `cap` a day."""
    return sorted((k for k, c in cards.items() if c.due <= today), key=lambda k: (cards[k].due, k))[:cap]
