"""SM-2 spaced repetition, the one implementation (pure functions: no clock, no I/O).

Everything is computed in integers. The ease factor is held as whole hundredths (2.5 -> 250),
which is exact because every ease delta is a multiple of 0.02; the next interval is
`interval * ease` rounded half up, computed as `(interval * ease_h + 50) // 100`. The float
formula `floor(interval * ease + 0.5)` is wrong at exact halves: 95 x 2.3 is 218.5 exactly,
but in binary floating point it is 218.4999..., which rounds to 218 instead of 219.

The rule (Wozniak's SM-2 as usually implemented):

    grade q in 0..5 (the buttons: Again = 0, Hard = 2, Good = 4, Easy = 5)
    if q < 3:  repetitions = 0; interval = 1                  # a lapse: start over tomorrow
    else:      repetitions += 1
               interval = 1 if repetitions == 1
                          6 if repetitions == 2
                          round_half_up(interval * ease) otherwise
    ease = max(1.3, ease + 0.1 - (5 - q) * (0.08 + (5 - q) * 0.02))   # on every review
    due  = today + interval

The variant "portal" (the course's Phase 41 theory page) instead subtracts a flat 0.20 from
the ease on a failure and lets the next success resume at 6 days (repetitions drop to 1, not
0): grades 4,4,0,4,4,4 give 1, 6, 1, 6, 14, 32 at ease 2.3.

The review deck (workbench/quiz/sm2.py) and Phase 41's portal (engine/portal/srs.py) both
call this module; neither carries its own arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction

BUTTONS = {"again": 0, "hard": 2, "good": 4, "easy": 5}
MIN_EASE_H = 130
START_EASE_H = 250
MIN_EASE = MIN_EASE_H / 100
START_EASE = START_EASE_H / 100
VARIANTS = ("standard", "portal")


def ease_delta_h(grade: int) -> int:
    """The ease change of one review, in hundredths: q0 -80, q1 -54, q2 -32, q3 -14, q4 0, q5 +10."""
    miss = 5 - grade
    return 10 - miss * (8 + miss * 2)


def ease_delta(grade: int) -> float:
    """`ease_delta_h` as a float (exact to two decimals)."""
    return ease_delta_h(grade) / 100


def to_hundredths(ease: float | int | Fraction) -> int:
    """An ease factor as whole hundredths; refuses values that are not on the 0.01 grid."""
    if isinstance(ease, float):
        h = round(ease * 100)
        exact = abs(ease * 100 - h) < 1e-6
    else:
        scaled = Fraction(ease) * 100
        h, exact = int(scaled), scaled.denominator == 1
    if not exact:
        raise ValueError(f"ease {ease!r} is not a multiple of 0.01")
    return h


def round_half_up(x: float | int | Fraction) -> int:
    """Round to the nearest integer, halves up, exactly (a float is taken at its exact binary value)."""
    return math.floor(Fraction(x) + Fraction(1, 2))


def next_interval(interval: int, ease_h: int) -> int:
    """`interval * ease` rounded half up, in integers (at least 1 day)."""
    return max(1, (interval * ease_h + 50) // 100)


def step(ease_h: int, interval: int, repetitions: int, grade: int, variant: str = "standard") -> tuple[int, int, int]:
    """One review in integers: (ease_h, interval, repetitions) after grading `grade`."""
    if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= 5:
        raise ValueError(f"grade must be 0..5, got {grade!r}")
    if variant not in VARIANTS:
        raise ValueError(f"SM-2 variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if grade < 3:
        interval = 1
        if variant == "standard":
            repetitions, ease_h = 0, ease_h + ease_delta_h(grade)
        else:
            repetitions, ease_h = min(repetitions, 1), ease_h - 20
    else:
        repetitions += 1
        interval = 1 if repetitions == 1 else 6 if repetitions == 2 else next_interval(interval, ease_h)
        ease_h += ease_delta_h(grade)
    return max(MIN_EASE_H, ease_h), interval, repetitions


@dataclass(frozen=True)
class Card:
    """A card's schedule. `ease` is a float on the 0.01 grid (stored that way in SQLite)."""

    due: date
    ease: float = START_EASE
    interval: int = 0
    repetitions: int = 0


def seed_card(today: date, ease: float = START_EASE) -> Card:
    """A wrong exam answer becomes a card due tomorrow."""
    return Card(due=today + timedelta(days=1), ease=ease)


def review(card: Card, grade: int, today: date, variant: str = "standard") -> Card:
    """The card after one review graded `grade` (0..5) on `today`."""
    ease_h, interval, reps = step(to_hundredths(card.ease), card.interval, card.repetitions, grade, variant)
    return replace(card, ease=ease_h / 100, interval=interval, repetitions=reps, due=today + timedelta(days=interval))


def due_queue(cards: dict[str, Card], today: date, cap: int = 30) -> list[str]:
    """Cards due today or earlier, oldest due first, at most `cap` a day."""
    return sorted((k for k, c in cards.items() if c.due <= today), key=lambda k: (cards[k].due, k))[:cap]
