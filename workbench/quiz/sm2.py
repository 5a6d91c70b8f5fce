"""SM-2 spaced repetition, the variant this workbench uses (pure functions, no clock, no I/O).

The rule itself (Wozniak's SM-2 as usually implemented, integer hundredths) is written once, in
`engine/apps/srs.py`; this module re-exports it for the workbench.

Choices made, and why:
* The deck schedules with engine.apps.srs's "anki" variant: Again (0) is due again today and comes
  back in the same session (a relearning step), a first pass gives Hard (3) / Good (4) 1 day and
  Easy (5) 4 days, later passes give Good the SM-2 interval, Hard x1.2 and Easy x1.3 of it.
* Ease changes on every review, failures included (q0 -0.80, q2 -0.32, q3 -0.14, q4 0, q5 +0.10).
  The course's Phase 41 theory page instead subtracts a flat 0.20 on failure; after the grades
  4, 4, 0, 4, 4, 4 the deck gives ease 1.7 and intervals 1, 6, 0 (relearned that day), 1, 6, 10
  (the theory's 2.3 and 1, 6, 1, 6, 14, 32). A forgotten card should come back often.
* Ease is held in whole hundredths and intervals are computed in integers (engine/apps/srs.py), so
  exact halves round up: 95 days at ease 2.3 is 218.5, scheduled as 219 (the float formula
  gives 218). An all-Good learner gets 1, 6, 15, 38, 95, 238, 595 days at ease 2.5.
* The next interval multiplies the previous *scheduled* interval, not the days actually
  elapsed, so reviewing late earns no bonus and reviewing early is not allowed by the queue.
* Dates are UTC calendar days.

The step itself is engine.apps.srs.review (one implementation, shared with Phase 41's portal lab);
this module adds the deck's bookkeeping (last review, lapses) and grade parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from engine.apps import srs
from engine.apps.srs import MIN_EASE, START_EASE, ease_delta, round_half_up  # noqa: F401  (part of this module's API)

GRADES = srs.BUTTONS


@dataclass(frozen=True)
class CardState:
    due: date
    ease: float = START_EASE
    interval: int = 0  # days; 0 until the first successful review
    repetitions: int = 0  # successful reviews in a row
    last_review: date | None = None
    lapses: int = 0  # reviews graded below 3

    @property
    def relearning(self) -> bool:
        """Lapsed and not yet passed again (due today, interval 0)."""
        return self.interval == 0 and self.last_review is not None


def new_card(today: date) -> CardState:
    """A card seeded by a wrong quiz answer: due tomorrow, ease 2.5, no repetitions."""
    return CardState(due=today + timedelta(days=1))


def parse_grade(text: str | int) -> int:
    """0..5, or again / hard / good / easy (any case, or just the first letter)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        word = str(text).strip().casefold()
        by_letter = {name[0]: g for name, g in GRADES.items()}
        if word in GRADES:
            return GRADES[word]
        if word in by_letter:
            return by_letter[word]
        if not word.isdigit():
            raise ValueError(f"grade {text!r}: use 0-5 or again/hard/good/easy")
        value = int(word)
    if not 0 <= value <= 5:
        raise ValueError(f"grade {text!r}: must be between 0 and 5")
    return value


def preview(state: CardState) -> dict[str, int]:
    """Days each button (again / hard / good / easy) would schedule, from engine.apps.srs (0: today)."""
    return srs.preview(srs.Card(state.due, state.ease, state.interval, state.repetitions))


def review(state: CardState, grade: int, today: date) -> CardState:
    """The card after one review graded `grade` (0..5) on `today`."""
    step = srs.review(
        srs.Card(state.due, state.ease, state.interval, state.repetitions), grade, today, srs.DECK_VARIANT
    )
    return replace(
        state,
        ease=step.ease,
        interval=step.interval,
        repetitions=step.repetitions,
        lapses=state.lapses + (grade < srs.PASS_GRADE),
        last_review=today,
        due=step.due,
    )
