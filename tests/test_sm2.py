"""SM-2 as documented in workbench/quiz/sm2.py, against the tables worked out in course-notes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from workbench.quiz import sm2

DAY0 = date(2026, 5, 23)


def walk(grades: list[int]) -> tuple[list[int], sm2.CardState]:
    """Review on each due date; returns the intervals and the final state."""
    state, today, intervals = sm2.CardState(due=DAY0), DAY0, []
    for g in grades:
        state = sm2.review(state, g, today)
        intervals.append(state.interval)
        today = state.due
    return intervals, state


def test_all_good_learner_interval_table() -> None:
    intervals, state = walk([4] * 7)
    assert intervals == [1, 6, 15, 38, 95, 238, 595]
    assert state.ease == 2.5
    assert state.repetitions == 7


def test_all_good_due_dates() -> None:
    state, today, dues = sm2.CardState(due=DAY0), DAY0, []
    for _ in range(6):
        state = sm2.review(state, 4, today)
        dues.append(state.due.isoformat())
        today = state.due
    assert dues == ["2026-05-24", "2026-05-30", "2026-06-14", "2026-07-22", "2026-10-25", "2027-06-20"]


def test_lapse_resets_repetitions_and_lowers_ease() -> None:
    intervals, state = walk([4, 4, 0, 4, 4, 4])
    assert intervals == [1, 6, 0, 1, 6, 10]  # the lapse is due again the same day (relearning)
    assert state.ease == pytest.approx(1.7)
    assert state.lapses == 1


@pytest.mark.parametrize(("grade", "delta"), [(5, 0.10), (4, 0.0), (3, -0.14), (2, -0.32), (1, -0.54), (0, -0.80)])
def test_ease_delta_by_grade(grade: int, delta: float) -> None:
    assert sm2.ease_delta(grade) == pytest.approx(delta)


def test_ease_floor() -> None:
    _, state = walk([0, 0, 0, 0])
    assert state.ease == sm2.MIN_EASE


def test_easy_grows_ease_and_intervals() -> None:
    intervals, state = walk([5, 5, 5])
    assert intervals == [4, 8, 29]  # Easy first 4 d; then 6 × 1.3 = 7.8 → 8; 8 × 2.7 = 21.6 → 22, × 1.3 → 29
    assert state.ease == pytest.approx(2.8)


def test_round_half_up_not_bankers() -> None:
    assert sm2.round_half_up(36.5) == 37
    assert sm2.round_half_up(37.5) == 38


def test_new_card_due_tomorrow() -> None:
    card = sm2.new_card(DAY0)
    assert card.due == DAY0 + timedelta(days=1)
    assert (card.ease, card.interval, card.repetitions) == (2.5, 0, 0)


@pytest.mark.parametrize(("text", "value"), [("again", 0), ("Hard", 3), ("good", 4), ("E", 5), ("2", 2), (4, 4)])
def test_parse_grade(text: str | int, value: int) -> None:
    assert sm2.parse_grade(text) == value


@pytest.mark.parametrize("text", ["6", "meh", "-1", ""])
def test_parse_grade_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        sm2.parse_grade(text)


def test_review_rejects_bad_grade() -> None:
    with pytest.raises(ValueError):
        sm2.review(sm2.CardState(due=DAY0), 7, DAY0)


def test_relearning_flag_and_preview() -> None:
    fresh = sm2.new_card(DAY0)
    assert not fresh.relearning and sm2.preview(fresh) == {"again": 0, "hard": 1, "good": 1, "easy": 4}
    lapsed = sm2.review(fresh, 0, DAY0)
    assert lapsed.relearning and lapsed.due == DAY0 and lapsed.lapses == 1
    passed = sm2.review(lapsed, 4, DAY0)
    assert not passed.relearning and passed.due == DAY0 + timedelta(days=1)
