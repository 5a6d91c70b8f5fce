"""engine.srs (the one SM-2) against exact rational arithmetic over many random grade sequences."""

from __future__ import annotations

import math
import random
from datetime import date
from fractions import Fraction

import pytest

from engine import srs

DAY0 = date(2026, 1, 1)


def rational_sm2(grades: list[int], ease: Fraction, variant: str = "standard") -> list[tuple[Fraction, int, int]]:
    """The SM-2 rule written directly in Fractions: the reference the integer code must equal."""
    interval, reps, out = 0, 0, []
    for q in grades:
        miss = 5 - q
        if q < 3:
            interval = 1
            if variant == "standard":
                reps, ease = 0, ease + Fraction(1, 10) - miss * (Fraction(8, 100) + miss * Fraction(2, 100))
            else:
                reps, ease = min(reps, 1), ease - Fraction(20, 100)
        else:
            reps += 1
            interval = 1 if reps == 1 else 6 if reps == 2 else max(1, math.floor(interval * ease + Fraction(1, 2)))
            ease = ease + Fraction(1, 10) - miss * (Fraction(8, 100) + miss * Fraction(2, 100))
        ease = max(Fraction(13, 10), ease)
        out.append((ease, interval, reps))
    return out


def test_exact_half_rounds_up() -> None:
    # 95 x 2.3 = 218.5 exactly; the float formula floor(95 * 2.3 + 0.5) gives 218.
    assert math.floor(95 * 2.3 + 0.5) == 218
    assert srs.next_interval(95, 230) == 219
    assert srs.round_half_up(Fraction(437, 2)) == 219


@pytest.mark.parametrize("variant", srs.VARIANTS)
def test_matches_fractions_on_random_sequences(variant: str) -> None:
    rng = random.Random(12)
    for _ in range(3000):
        grades = [rng.choice([0, 1, 2, 3, 3, 4, 4, 4, 5, 5]) for _ in range(rng.randint(1, 14))]
        ease0 = Fraction(rng.randint(130, 300), 100)
        ref = rational_sm2(grades, ease0, variant)
        card = srs.Card(due=DAY0, ease=float(ease0))
        for (ease, interval, reps), g in zip(ref, grades, strict=True):
            card = srs.review(card, g, card.due, variant)
            assert (srs.to_hundredths(card.ease), card.interval, card.repetitions) == (int(ease * 100), interval, reps), grades


def test_reaches_the_exact_half_case() -> None:
    # A real schedule that lands on an exact half: ease 2.3, interval 95 -> 219 days.
    card = srs.Card(due=DAY0, ease=2.3, interval=95, repetitions=3)
    assert srs.review(card, 4, DAY0).interval == 219


def test_off_grid_ease_refused() -> None:
    with pytest.raises(ValueError, match="0.01"):
        srs.to_hundredths(2.505)
    with pytest.raises(ValueError, match="variant"):
        srs.review(srs.Card(due=DAY0), 4, DAY0, "nope")
