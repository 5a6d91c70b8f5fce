"""Attempts and review cards in SQLite: seeding rules, the daily queue, and two concurrent writers."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _quiz_fixtures import RIGHT, write_content

from workbench.content.schema import Quiz
from workbench.quiz import attempts, cards
from workbench.quiz.scoring import score_quiz
from workbench.store.db import connect

DAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _quiz(tmp_path: Path) -> Quiz:
    return write_content(tmp_path / "content").quizzes["phase-03-fixture"]


def _record(conn, quiz: Quiz, answers: dict, today: date = DAY) -> int:  # type: ignore[no-untyped-def]
    result = score_quiz(quiz, answers)
    return attempts.record(conn, result, started_at=NOW, finished_at=NOW + timedelta(seconds=42), mode="answers", today=today)


def test_attempt_is_stored_with_answers_and_time(tmp_path: Path) -> None:
    quiz, conn = _quiz(tmp_path), connect(tmp_path / "wb.db")
    attempt_id = _record(conn, quiz, {**RIGHT, "q-03-04": "0.5"})
    row = attempts.best_attempt(conn, quiz.id)
    assert row is not None and row["id"] == attempt_id
    assert (row["correct"], row["total"], row["seconds"], row["passed"]) == (5, 6, 42.0, 1)
    answers = {a["item_id"]: a for a in attempts.answers_of(conn, attempt_id)}
    assert answers["q-03-04"]["response"] == "0.5" and answers["q-03-04"]["correct"] == 0
    assert answers["q-03-01"]["response"] == 2


def test_wrong_answers_seed_cards_due_tomorrow(tmp_path: Path) -> None:
    quiz, conn = _quiz(tmp_path), connect(tmp_path / "wb.db")
    _record(conn, quiz, {**RIGHT, "q-03-02": "1", "q-03-06": "wrote"})
    deck = cards.all_cards(conn)
    assert sorted(c.item_id for c in deck) == ["q-03-02", "q-03-06"]
    assert all(c.state.due == DAY + timedelta(days=1) and c.state.ease == 2.5 for c in deck)
    assert cards.due_count(conn, DAY) == 0
    assert cards.due_count(conn, DAY + timedelta(days=1)) == 2


def test_repeat_failure_never_resets_a_card(tmp_path: Path) -> None:
    quiz, conn = _quiz(tmp_path), connect(tmp_path / "wb.db")
    _record(conn, quiz, {**RIGHT, "q-03-06": "wrote"})
    for day in (1, 2, 8):  # three good reviews: intervals 1, 6, 15
        cards.record_review(conn, quiz.id, "q-03-06", 4, DAY + timedelta(days=day), NOW)
    before = cards.get(conn, quiz.id, "q-03-06")
    assert before is not None and before.state.interval == 15 and before.state.repetitions == 3
    later = DAY + timedelta(days=10)
    _record(conn, quiz, {**RIGHT, "q-03-06": "wrote"}, today=later)  # failed again in a quiz
    _record(conn, quiz, {**RIGHT, "q-03-06": "wrote"}, today=later)  # and again, same day
    after = cards.get(conn, quiz.id, "q-03-06")
    assert after is not None
    assert (after.state.ease, after.state.interval, after.state.repetitions) == (2.5, 15, 3)
    assert after.state.due == later + timedelta(days=1)  # pulled forward, not reset
    _record(conn, quiz, RIGHT, today=later)  # a right answer leaves the card alone
    assert cards.get(conn, quiz.id, "q-03-06") == after


def test_queue_orders_by_due_and_caps_per_day(tmp_path: Path) -> None:
    conn = connect(tmp_path / "wb.db")
    cards.ensure_tables(conn)
    conn.execute("BEGIN IMMEDIATE")
    for k in range(40):  # 40 cards seeded on different days
        cards.seed_in_transaction(conn, "quiz-x", [f"q-{k:02d}"], DAY - timedelta(days=40 - k))
    conn.execute("COMMIT")
    today = DAY + timedelta(days=5)
    queue = cards.queue(conn, today, cap=30)
    assert len(queue) == 30
    assert [c.state.due for c in queue] == sorted(c.state.due for c in queue)
    assert queue[0].item_id == "q-00"
    for card in queue[:10]:
        cards.record_review(conn, card.quiz_id, card.item_id, 4, today, NOW)
    assert len(cards.queue(conn, today, cap=30)) == 20  # the cap counts today's reviews
    assert cards.reviewed_count(conn, today) == 10


def _writer(db: str, content: str, worker: int, n: int) -> None:
    from workbench.content import load_catalog

    quiz = load_catalog(Path(content)).quizzes["phase-03-fixture"]
    conn = connect(Path(db))
    for k in range(n):
        answers = {**RIGHT, "q-03-06": "wrote" if k % 2 else "written"}
        result = score_quiz(quiz, answers)
        attempts.record(conn, result, started_at=NOW, finished_at=NOW, mode=f"worker-{worker}", today=DAY)
    conn.close()


def test_two_processes_recording_attempts_lose_nothing(tmp_path: Path) -> None:
    write_content(tmp_path / "content")
    db, n = tmp_path / "wb.db", 400
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(db), str(tmp_path / "content"), w, n)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    conn = connect(db)
    per_worker = dict(conn.execute("SELECT mode, COUNT(*) FROM quiz_attempts GROUP BY mode").fetchall())
    assert per_worker == {"worker-0": n, "worker-1": n}
    assert conn.execute("SELECT COUNT(*) FROM quiz_answers").fetchone()[0] == 2 * n * 6
    assert len(cards.all_cards(conn)) == 1  # one card for the item both workers got wrong
    modes = [r[0] for r in conn.execute("SELECT mode FROM quiz_attempts ORDER BY id")]
    switches = sum(a != b for a, b in zip(modes, modes[1:], strict=False))
    print(f"writer switches in id order: {switches}")  # >1 means the two writers really interleaved
