"""What members type and what we echo back (bot.domain.text)."""

from __future__ import annotations

import pytest

from bot.domain import text
from bot.domain.errors import InvalidInput


@pytest.mark.parametrize(("raw", "limit", "cleaned"), [
    ("  plain  ", 32, "plain"),
    ("hi @everyone and <@123> in <#456>", 64, "hi [mention] and [mention] in [mention]"),
    ("<@!1> <@&2> @here", 64, "[mention] [mention] [mention]"),
    ("ｆｕｌｌｗｉｄｔｈ", 32, "fullwidth"),
    ("tab\tand\x00null\u200bzero-width", 32, "tabandnullzero-width"),
    ("x" * 50, 32, "x" * 31 + "…"),
])
def test_clean_text(raw, limit, cleaned):
    assert text.clean_text(raw, limit) == cleaned


def test_display_name_is_cleaned_bounded_and_never_empty():
    assert text.display_name("\u200b\u200b") == "member"
    assert text.display_name("<@1>") == "[mention]"
    assert len(text.display_name("y" * 100)) == text.MAX_NAME_LENGTH


def test_announcements():
    assert text.validate_announcement("  hello  ") == "hello"
    assert text.validate_announcement("x" * 1900) == "x" * 1900
    with pytest.raises(InvalidInput, match="empty"):
        text.validate_announcement("   ")
    with pytest.raises(InvalidInput, match="1,900"):
        text.validate_announcement("x" * 1901)
