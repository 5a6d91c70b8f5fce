"""SM-2 spaced repetition, the one implementation (pure functions: no clock, no I/O).

Everything is computed in integers. The ease factor is held as whole hundredths (2.5 -> 250),
which is exact because every ease delta is a multiple of 0.02; the next interval is
`interval * ease` rounded half up, computed as `(interval * ease_h + 50) // 100`. The float
formula `floor(interval * ease + 0.5)` is wrong at exact halves: 95 x 2.3 is 218.5 exactly,
but in binary floating point it is 218.4999..., which rounds to 218 instead of 219.

The rule (Wozniak's SM-2 as usually implemented; variant "standard", the course's lab 04):

    grade q in 0..5
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

The variant "anki" is the review deck's (DECK_VARIANT): the same ease rule and the same
1, 6, I*EF ladder for Good, with the learning behaviour Anki users expect, so the four buttons
never schedule the same thing:

    Again (q < 3)  repetitions = 0; interval = 0: due again today, relearned in this session
    first pass     Hard / Good 1 day, Easy 4 days (Anki's default easy interval)
    later passes   Good  = the SM-2 interval (6, then round_half_up(interval * ease))
                   Hard  = min(Good, max(interval + 1, round_half_up(interval * 1.2)))  (Anki's hard factor)
                   Easy  = round_half_up(Good * 1.3)                                    (Anki's easy bonus)

Buttons map to SM-2 grades Again 0, Hard 3, Good 4, Easy 5. The course's lab maps Hard to 2,
which SM-2 counts as a failure (q < 3) and would reset a mature card; SM-2's own definition of
q3 is "correct, with serious difficulty", which is what Hard means in Anki.

Hand-worked "anki" table from a new card at ease 2.5 (tests/test_srs_exact.py):
all Good 1, 6, 15, 38, 95; all Easy 4, 8, 29, 105 (ease 2.6..2.9); all Hard 1, 2, 3, 4;
Good, Good, Again, Good, Good, Good 1, 6, 0, 1, 6, 10 (ease 1.7).

The review deck (workbench/quiz/sm2.py, used by the TUI, `workbench review` and the portal)
calls this module; nothing else carries SM-2 arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction

BUTTONS = {"again": 0, "hard": 3, "good": 4, "easy": 5}
MIN_EASE_H = 130
START_EASE_H = 250
MIN_EASE = MIN_EASE_H / 100
START_EASE = START_EASE_H / 100
VARIANTS = ("standard", "portal", "anki")
DECK_VARIANT = "anki"  # what the workbench's review deck schedules with (TUI, CLI and portal)
PASS_GRADE = 3
EASY_FIRST_DAYS = 4  # Anki's default "easy interval" for a card's first pass
HARD_FACTOR_H = 120  # Anki's hard interval multiplier, in hundredths
EASY_BONUS_H = 130  # Anki's easy bonus, in hundredths


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


def scale(days: int, factor_h: int) -> int:
    """`days * factor` rounded half up, the factor in hundredths."""
    return (days * factor_h + 50) // 100


def step(ease_h: int, interval: int, repetitions: int, grade: int, variant: str = "standard") -> tuple[int, int, int]:
    """One review in integers: (ease_h, interval, repetitions) after grading `grade`."""
    if isinstance(grade, bool) or not isinstance(grade, int) or not 0 <= grade <= 5:
        raise ValueError(f"grade must be 0..5, got {grade!r}")
    if variant not in VARIANTS:
        raise ValueError(f"SM-2 variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if grade < PASS_GRADE:
        if variant == "portal":
            interval, repetitions, ease_h = 1, min(repetitions, 1), ease_h - 20
        else:
            interval = 0 if variant == "anki" else 1
            repetitions, ease_h = 0, ease_h + ease_delta_h(grade)
    else:
        repetitions += 1
        good = 1 if repetitions == 1 else 6 if repetitions == 2 else next_interval(interval, ease_h)
        if variant != "anki":
            interval = good
        elif repetitions == 1:
            interval = EASY_FIRST_DAYS if grade == 5 else 1
        elif grade == 3:
            interval = min(good, max(interval + 1, scale(interval, HARD_FACTOR_H)))
        elif grade == 5:
            interval = scale(good, EASY_BONUS_H)
        else:
            interval = good
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


def preview(card: Card, variant: str = DECK_VARIANT) -> dict[str, int]:
    """The interval in days each button would give this card, before it is pressed (0: again today)."""
    ease_h = to_hundredths(card.ease)
    return {name: step(ease_h, card.interval, card.repetitions, g, variant)[1] for name, g in BUTTONS.items()}


def interval_words(days: int) -> str:
    """How a grade key labels its interval: `today` (relearn in this session), `1 d`, `4 d`."""
    return "today" if days <= 0 else f"{days} d"


def due_queue(cards: dict[str, Card], today: date, cap: int = 30) -> list[str]:
    """Cards due today or earlier, oldest due first, at most `cap` a day."""
    return sorted((k for k, c in cards.items() if c.due <= today), key=lambda k: (cards[k].due, k))[:cap]
