"""Pilot tests for the standalone Quiz and Review screens: answer a whole quiz by keyboard,
check it is stored with its review cards, then review those cards and see the SM-2 dates."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from _quiz_fixtures import write_content
from textual.app import App
from textual.screen import Screen
from textual.widgets import Input, Static

from workbench.quiz import attempts, cards
from workbench.store.db import connect
from workbench.tui.screens.quiz import QuizScreen
from workbench.tui.screens.review import ReviewScreen

DAY = date(2026, 5, 22)
TYPED = ["2", "1 3", "it accumulates", "0.5", "3 1 2", "written"]  # q-03-04 is wrong


class Host(App):
    """A bare app that shows one screen, as the workbench app would push it."""

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self._first = screen

    def on_mount(self) -> None:
        self.push_screen(self._first)


def _text(screen: Screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def _take_quiz(screen: QuizScreen) -> None:
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "1/6" in _text(screen, "#quiz-title")
        box = screen.query_one("#quiz-answer", Input)
        for k, answer in enumerate(TYPED):
            if k == 0:
                await pilot.press(*answer)  # typed key by key once; then filled in, to keep the test fast
            else:
                box.value = answer
            await pilot.press("enter")  # check
            assert ("right" in _text(screen, "#quiz-feedback")) or ("wrong" in _text(screen, "#quiz-feedback"))
            await pilot.press("enter")  # next
        assert screen.stage == "done"
        assert "5/6" in _text(screen, "#quiz-prompt")


def test_quiz_screen_grades_and_stores(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    screen = QuizScreen(phase=3, catalog=catalog, conn=conn, today=DAY)
    asyncio.run(_take_quiz(screen))
    assert screen.result is not None and screen.result.wrong == ["q-03-04"]
    best = attempts.best_attempt(conn, "phase-03-fixture")
    assert best is not None and (best["correct"], best["mode"]) == (5, "tui")
    assert [c.item_id for c in cards.all_cards(conn)] == ["q-03-04"]


async def _pick_then_start(screen: QuizScreen) -> None:
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "has no quiz" in _text(screen, "#quiz-title")
        await pilot.press("enter")  # the first (only) quiz in the list
        await pilot.pause()
        assert screen.stage == "answer" and screen.quiz is not None


def test_quiz_screen_offers_a_list_when_the_phase_has_no_quiz(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    asyncio.run(_pick_then_start(QuizScreen(phase=12, catalog=catalog, conn=connect(tmp_path / "wb.db"))))


async def _review(screen: ReviewScreen, steps: list[tuple[str, ...]]) -> str:
    """Press each group of keys; returns the prompt text shown at the end."""
    async with Host(screen).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for keys in steps:
            await pilot.press(*keys)
        return _text(screen, "#review-prompt")


def test_review_screen_walks_the_queue(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    asyncio.run(_take_quiz(QuizScreen(phase=3, catalog=catalog, conn=conn, today=DAY)))

    early = ReviewScreen(catalog=catalog, conn=conn, today=DAY)  # seeded today, due tomorrow
    shown = asyncio.run(_review(early, []))
    assert early.stage == "done" and "Nothing due on 2026-05-22" in shown

    tomorrow = date(2026, 5, 23)
    screen = ReviewScreen(catalog=catalog, conn=conn, today=tomorrow)
    # type the right answer, check it, accept the suggested grade (good) with enter
    shown = asyncio.run(_review(screen, [("1", "e", "-", "3", "enter"), ("enter",)]))  # typed answer, then the suggested grade
    assert screen.stage == "done"
    assert [(item, g, s.interval, s.due) for item, g, s in screen.reviewed] == [("q-03-04", 4, 1, date(2026, 5, 24))]
    assert "Next card due 2026-05-24" in shown

    again = ReviewScreen(catalog=catalog, conn=conn, today=date(2026, 5, 24))
    asyncio.run(_review(again, [("enter",), ("1",)]))  # reveal, then grade Again
    card = cards.get(conn, "phase-03-fixture", "q-03-04")
    assert card is not None and (card.state.repetitions, card.state.interval, card.state.ease) == (0, 0, 1.7)
    assert card.state.due == date(2026, 5, 24) and again.stage == "ask"  # relearning: back in this session


async def _slips_then_answers(screen: QuizScreen) -> list[str]:
    """At 80x24: a choice out of range and a non-number are asked again (nothing graded), then answered."""
    shown = []
    async with Host(screen).run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        box = screen.query_one("#quiz-answer", Input)
        for k, answer in enumerate(TYPED):
            slip = {0: "7", 3: "zero point five"}.get(k)
            if slip is not None:
                box.value = slip
                await pilot.press("enter")
                shown.append(_text(screen, "#quiz-feedback"))
                assert screen.stage == "answer" and screen.item.id not in screen.answers
                assert f"{k + 1}/6" in _text(screen, "#quiz-title")  # still the same item
            box.value = answer
            await pilot.press("enter")
            await pilot.press("enter")
        assert screen.stage == "done"
    return shown


def test_quiz_screen_asks_again_on_a_slip(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    screen = QuizScreen(phase=3, catalog=catalog, conn=conn, today=DAY)
    shown = asyncio.run(_slips_then_answers(screen))
    assert "choice 7 is out of range" in shown[0] and "try again" in shown[0]
    assert "no single number" in shown[1]
    # graded as if the slips never happened: the same one wrong item, the same one review card
    assert screen.result is not None and screen.result.wrong == ["q-03-04"]
    assert screen.answers["q-03-01"] == "2" and screen.answers["q-03-04"] == "0.5"
    assert [c.item_id for c in cards.all_cards(conn)] == ["q-03-04"]


def test_review_screen_asks_again_on_a_slip(tmp_path: Path) -> None:
    catalog = write_content(tmp_path / "content")
    conn = connect(tmp_path / "wb.db")
    asyncio.run(_take_quiz(QuizScreen(phase=3, catalog=catalog, conn=conn, today=DAY)))
    screen = ReviewScreen(catalog=catalog, conn=conn, today=date(2026, 5, 23))

    async def slip() -> str:
        async with Host(screen).run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen.query_one("#review-answer", Input).value = "lots"
            await pilot.press("enter")
            assert screen.stage == "ask"  # asked again: no grade suggested, nothing revealed
            return _text(screen, "#review-feedback")

    assert "no single number" in asyncio.run(slip())
