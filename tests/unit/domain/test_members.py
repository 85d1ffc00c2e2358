"""Registration, the daily check-in, profiles and leaderboard pages (bot.domain.members)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.domain import members
from bot.domain.errors import AlreadyRegistered, InvalidInput, NotAllowed, NotRegistered
from bot.storage.base import LoginResult, Member

NEW = Member(1, 10, "ann", 1000.0, 0, 0, 0, None, 0, 0, 0)


def test_registration():
    members.check_can_register(False)
    with pytest.raises(NotAllowed, match="Bots cannot register"):
        members.check_can_register(True)
    members.check_first_registration(True)
    with pytest.raises(AlreadyRegistered, match="already registered in this server"):
        members.check_first_registration(False)


def test_only_registered_members_have_a_profile():
    assert members.require_member(NEW) is NEW
    with pytest.raises(NotRegistered, match="Register first with /register"):
        members.require_member(None)
    assert members.require_profile(NEW, True, "ann") is NEW
    with pytest.raises(NotRegistered, match="You are not registered yet"):
        members.require_profile(None, True, "ann")
    with pytest.raises(NotRegistered, match="bob has not registered in this server"):
        members.require_profile(None, False, "bob")


def test_login_award_grows_with_the_streak_and_caps():
    assert [members.login_award(100, s) for s in (1, 2, 3, 7, 8, 50)] == \
        [100, 110, 120, 160, 160, 160]
    assert members.login_award(15, 2) == 16  # whole points, rounded down


def test_local_days_follow_the_time_zone():
    moment = datetime(2024, 1, 1, 23, 30, tzinfo=UTC).timestamp()
    assert members.local_days(moment, "UTC") == ("2024-01-01", "2023-12-31")
    assert members.local_days(moment, "Europe/Berlin") == ("2024-01-02", "2024-01-01")
    assert members.local_days(moment, "America/New_York") == ("2024-01-01", "2023-12-31")
    assert members.local_days(moment, "Not/AZone") == ("2024-01-01", "2023-12-31")
    march = datetime(2024, 3, 1, 0, 30, tzinfo=UTC).timestamp()
    assert members.local_days(march, "UTC") == ("2024-03-01", "2024-02-29")  # leap day


def test_the_first_login_starts_a_streak():
    result = members.login(NEW, "2024-01-02", "2024-01-01", 100)
    assert result == LoginResult(replace(NEW, points=100, streak=1, best_streak=1,
                                         last_login_day="2024-01-02", total_logins=1),
                                 100, False, False)


def test_a_second_login_the_same_day_changes_nothing():
    once = members.login(NEW, "2024-01-02", "2024-01-01", 100).member
    assert members.login(once, "2024-01-02", "2024-01-01", 100) == \
        LoginResult(once, 0, True, False)


def test_the_next_day_continues_the_streak_and_a_gap_breaks_it():
    day1 = members.login(NEW, "2024-01-01", "2023-12-31", 100).member
    day2 = members.login(day1, "2024-01-02", "2024-01-01", 100)
    assert (day2.awarded, day2.member.streak, day2.member.points, day2.streak_broken) == \
        (110, 2, 210, False)
    day4 = members.login(day2.member, "2024-01-04", "2024-01-03", 100)
    assert (day4.awarded, day4.member.streak, day4.member.best_streak, day4.streak_broken) == \
        (100, 1, 2, True)
    assert day4.member.total_logins == 3


def test_login_needs_registration():
    with pytest.raises(NotRegistered, match="Register first"):
        members.login(None, "2024-01-02", "2024-01-01", 100)


def test_login_messages_state_the_rules():
    first = members.login(NEW, "2024-01-02", "2024-01-01", 100)
    assert members.login_message(first, 100, "UTC") == (
        "Checked in: +100 points. Streak: 1 day. Total: 100 points.\n"
        "Tomorrow's check-in is worth 110 points.")
    again = members.login(first.member, "2024-01-02", "2024-01-01", 100)
    assert members.login_message(again, 100, "Europe/Berlin") == (
        "You already checked in today. Streak: 1 day, 100 points. Come back tomorrow "
        "(days start at midnight Europe/Berlin).")
    broken = members.login(replace(first.member, streak=4), "2024-01-09", "2024-01-08", 100)
    assert "Your previous streak ended; a new one starts today." in \
        members.login_message(broken, 100, "UTC")


def test_leaderboard_pages():
    assert [members.page_count(n) for n in (0, 1, 10, 11, 25)] == [1, 1, 1, 2, 3]
    assert [members.page_offset(p) for p in (1, 2, 3)] == [0, 10, 20]
    assert members.validate_page(3, 25) == 3
    with pytest.raises(InvalidInput, match="There are 3 pages; pick a page from 1 to 3"):
        members.validate_page(4, 25)
    with pytest.raises(InvalidInput, match="There is 1 page; pick a page from 1 to 1"):
        members.validate_page(0, 0)


def test_the_welcome_message_says_how_to_earn_points():
    assert members.welcome_message(NEW) == (
        "Welcome, <@10>! You are registered with 0 points. Use /login every day to build your "
        "streak.")
