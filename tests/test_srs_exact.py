"""engine.apps.srs (the one SM-2) against exact rational arithmetic over many random grade sequences."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from fractions import Fraction

import pytest

from engine.apps import srs

DAY0 = date(2026, 1, 1)


def rational_sm2(grades: list[int], ease: Fraction, variant: str = "standard") -> list[tuple[Fraction, int, int]]:
    """The SM-2 rule written directly in Fractions: the reference the integer code must equal."""
    interval, reps, out = 0, 0, []
    for q in grades:
        miss = 5 - q
        if q < 3:
            interval = 0 if variant == "anki" else 1
            if variant in ("standard", "anki"):
                reps, ease = 0, ease + Fraction(1, 10) - miss * (Fraction(8, 100) + miss * Fraction(2, 100))
            else:
                reps, ease = min(reps, 1), ease - Fraction(20, 100)
        else:
            reps += 1
            good = 1 if reps == 1 else 6 if reps == 2 else max(1, math.floor(interval * ease + Fraction(1, 2)))
            if variant != "anki":
                interval = good
            elif reps == 1:
                interval = 4 if q == 5 else 1
            elif q == 3:
                interval = min(good, max(interval + 1, math.floor(interval * Fraction(12, 10) + Fraction(1, 2))))
            elif q == 5:
                interval = math.floor(good * Fraction(13, 10) + Fraction(1, 2))
            else:
                interval = good
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


# Worked by hand from the rule in engine/apps/srs.py (variant "anki", the deck's), new card at ease 2.50:
#   Easy:  r1 4 d (first pass), ease 2.60; r2 6 x 1.3 = 7.8 -> 8, ease 2.70;
#          r3 8 x 2.7 = 21.6 -> 22, x 1.3 = 28.6 -> 29, ease 2.80; r4 29 x 2.8 = 81.2 -> 81, x 1.3 = 105.3 -> 105
#   Hard:  r1 1 d, ease 2.36; r2 min(6, max(2, 1.2 -> 1)) = 2, ease 2.22;
#          r3 min(2 x 2.22 = 4.44 -> 4, max(3, 2.4 -> 2)) = 3, ease 2.08; r4 min(3 x 2.08 = 6.24 -> 6, max(4, 3.6 -> 4)) = 4
HAND_ANKI = [
    ([0], [0], 170),
    ([3], [1], 236),
    ([4], [1], 250),
    ([5], [4], 260),
    ([4] * 5, [1, 6, 15, 38, 95], 250),
    ([5] * 4, [4, 8, 29, 105], 290),
    ([3] * 4, [1, 2, 3, 4], 194),
    ([4, 4, 0, 4, 4, 4], [1, 6, 0, 1, 6, 10], 170),
    ([0, 4], [0, 1], 170),  # Again, then passed in the same session: tomorrow
    ([0, 0, 0, 0], [0, 0, 0, 0], 130),  # the ease floor
]


@pytest.mark.parametrize(("grades", "intervals", "ease_h"), HAND_ANKI)
def test_anki_variant_hand_table(grades: list[int], intervals: list[int], ease_h: int) -> None:
    card, day, got = srs.Card(due=DAY0), DAY0, []
    for g in grades:
        card = srs.review(card, g, day, "anki")
        got.append(card.interval)
        assert card.due == day + timedelta(days=card.interval)
        day = card.due
    assert (got, srs.to_hundredths(card.ease)) == (intervals, ease_h)


def test_new_card_buttons_schedule_four_different_things_or_tomorrow() -> None:
    # The complaint: Again and Easy both scheduled tomorrow. Now: again today, hard/good 1 d, easy 4 d.
    assert srs.preview(srs.Card(due=DAY0)) == {"again": 0, "hard": 1, "good": 1, "easy": 4}
    assert srs.preview(srs.Card(due=DAY0, interval=6, repetitions=2)) == {"again": 0, "hard": 7, "good": 15, "easy": 20}
    assert [srs.interval_words(d) for d in (0, 1, 4)] == ["today", "1 d", "4 d"]


def test_course_variants_untouched_by_the_deck_variant() -> None:
    # The course's two verbatim rules still give its verified tables (course-notes, P41 lab 04 / theory 05).
    for variant, want in (("standard", [1, 6, 1, 1, 6, 10]), ("portal", [1, 6, 1, 6, 14, 32])):
        card, day, got = srs.Card(due=DAY0), DAY0, []
        for g in [4, 4, 0, 4, 4, 4]:
            card = srs.review(card, g, day, variant)
            got.append(card.interval)
            day = card.due
        assert got == want, variant
