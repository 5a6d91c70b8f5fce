"""Unit tests of engine/portal: SM-2 against the workbench's own scheduler, signed tokens, password
hashing, note rendering and settings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.portal import notes, security, srs
from engine.portal.settings import SettingsError, from_env
from workbench.quiz import sm2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5]), min_size=1, max_size=12))
def test_sm2_matches_the_workbench_scheduler(grades: list[int]) -> None:
    day = date(2026, 1, 1)
    a, b = srs.seed_card(day), sm2.new_card(day)
    for g in grades:
        day = a.due
        a, b = srs.review(a, g, day), sm2.review(b, g, day)
        assert (a.due, a.ease, a.interval, a.repetitions) == (b.due, b.ease, b.interval, b.repetitions)


def test_due_queue_orders_by_due_date_and_caps() -> None:
    d = date(2026, 1, 10)
    cards = {f"c{i}": srs.Card(due=d - timedelta(days=i % 4)) for i in range(40)}
    cards["future"] = srs.Card(due=d + timedelta(days=1))
    q = srs.due_queue(cards, d, cap=30)
    assert len(q) == 30 and "future" not in q
    assert [cards[k].due for k in q] == sorted(cards[k].due for k in q)


def test_tokens_expire_and_bind_their_purpose() -> None:
    t = security.sign("k" * 32, "invite", "abc", ttl_s=60, now=1000)
    assert security.unsign("k" * 32, "invite", t, now=1059) == "abc"
    assert security.unsign("k" * 32, "invite", t, now=1061) is None
    assert security.unsign("k" * 32, "session", t, now=1000) is None
    assert security.unsign("x" * 32, "invite", t, now=1000) is None
    assert security.unsign("k" * 32, "invite", "garbage", now=1000) is None


def test_password_hash_is_salted_and_peppered() -> None:
    h1 = security.hash_password("pw", "pep", n=2**10)
    h2 = security.hash_password("pw", "pep", n=2**10)
    assert h1 != h2
    assert security.verify_password("pw", h1, "pep")
    assert not security.verify_password("pw", h1, "other")
    assert not security.verify_password("pW", h1, "pep")


@pytest.mark.parametrize("attack", ["<script>x</script>", "<img src=a onerror=b>", "<b onclick=x>**y**</b>"])
def test_rendered_notes_never_carry_live_markup(attack: str) -> None:
    assert notes.live_script(attack) > 0
    assert notes.live_script(notes.render(attack)) == 0


def test_sanitizer_drops_tags_outside_the_allow_list() -> None:
    assert notes.sanitize("<p>a<script>b</script><em>c</em><p onclick=x>") == "<p>ab<em>c</em>"


def test_default_secret_only_in_development() -> None:
    assert from_env({}).environment == "development"
    with pytest.raises(SettingsError):
        from_env({"LYNX_PORTAL_ENVIRONMENT": "production"})
