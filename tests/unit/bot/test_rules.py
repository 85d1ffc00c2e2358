from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain import rules


def test_login_award_grows_with_the_streak_and_caps():
    assert [rules.login_award(100, s) for s in (1, 2, 3, 7, 8, 50)] == \
        [100, 110, 120, 160, 160, 160]


def test_local_days_follow_the_time_zone():
    moment = datetime(2024, 1, 1, 23, 30, tzinfo=UTC).timestamp()
    assert rules.local_days(moment, "UTC") == ("2024-01-01", "2023-12-31")
    assert rules.local_days(moment, "Europe/Berlin") == ("2024-01-02", "2024-01-01")
    assert rules.local_days(moment, "America/New_York") == ("2024-01-01", "2023-12-31")
    assert rules.local_days(moment, "Not/AZone") == ("2024-01-01", "2023-12-31")


@pytest.mark.parametrize(("text", "limit", "cleaned"), [
    ("  plain  ", 32, "plain"),
    ("hi @everyone and <@123> in <#456>", 64, "hi [mention] and [mention] in [mention]"),
    ("ｆｕｌｌｗｉｄｔｈ", 32, "fullwidth"),
    ("tab\tand\x00null\u200bzero-width", 32, "tabandnullzero-width"),
    ("x" * 50, 32, "x" * 31 + "…"),
])
def test_clean_text(text, limit, cleaned):
    assert rules.clean_text(text, limit) == cleaned


def test_display_name_is_never_empty():
    assert rules.display_name("\u200b\u200b") == "member"


def test_validators():
    assert rules.validate_stake(5, 10) == 5
    with pytest.raises(rules.InvalidInput, match="only have 3"):
        rules.validate_stake(5, 3)
    with pytest.raises(rules.InvalidInput):
        rules.validate_stake(-1)
    assert rules.validate_page(3, 25) == 3
    with pytest.raises(rules.InvalidInput, match="There are 3 pages"):
        rules.validate_page(4, 25)
    assert rules.validate_time_zone(" utc ") == "UTC"
    with pytest.raises(rules.InvalidInput, match="`<@1>`|mention"):
        rules.validate_time_zone("<@1>")
    with pytest.raises(rules.InvalidInput, match="empty"):
        rules.validate_announcement("   ")
    with pytest.raises(rules.InvalidInput, match="1,900"):
        rules.validate_announcement("x" * 2000)
