"""Rules of daily logins, challenges and settings, and validation of what users type."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_STAKE = 1_000_000
MAX_DAILY_REWARD = 10_000
MAX_EXPIRY_HOURS = 24 * 14
MAX_NAME_LENGTH = 32
STREAK_BONUS_CAP = 6
LEADERBOARD_PAGE_SIZE = 10
_MENTION = re.compile(r"<(@[!&]?|#)\d+>|@(everyone|here)")


class InvalidInput(ValueError):
    """The user typed something we cannot take; the message says what and how to fix it."""


def login_award(daily_reward: int, streak: int) -> int:
    """Points for a check-in: the daily reward plus 10 % of it per streak day, capped at +60 %."""
    bonus_days = min(max(streak - 1, 0), STREAK_BONUS_CAP)
    return daily_reward + daily_reward * bonus_days // 10


def local_days(now: float, zone_name: str) -> tuple[str, str]:
    """Today and yesterday (ISO dates) in the guild's day-boundary time zone."""
    zone = _zone(zone_name)
    today = datetime.fromtimestamp(now, tz=zone).date()
    return today.isoformat(), (today - timedelta(days=1)).isoformat()


def _zone(name: str) -> timezone | ZoneInfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def validate_time_zone(name: str) -> str:
    name = name.strip()
    if name.upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"`{clean_text(name, 40)}` is not a time zone I know. Use an IANA name such as "
            "`UTC`, `Europe/Berlin` or `America/New_York`."
        ) from None
    return name


def validate_stake(stake: int, balance: int | None = None) -> int:
    if stake < 1 or stake > MAX_STAKE:
        raise InvalidInput(f"The stake must be between 1 and {MAX_STAKE:,} points.")
    if balance is not None and stake > balance:
        raise InvalidInput(f"You only have {balance:,} points; lower the stake.")
    return stake


def validate_daily_reward(value: int) -> int:
    if not 1 <= value <= MAX_DAILY_REWARD:
        raise InvalidInput(f"The daily reward must be between 1 and {MAX_DAILY_REWARD:,} points.")
    return value


def validate_expiry_hours(value: int) -> int:
    if not 1 <= value <= MAX_EXPIRY_HOURS:
        raise InvalidInput(f"Challenge expiry must be between 1 and {MAX_EXPIRY_HOURS} hours.")
    return value


def validate_page(page: int, total_items: int) -> int:
    pages = max(1, -(-total_items // LEADERBOARD_PAGE_SIZE))
    if page < 1 or page > pages:
        raise InvalidInput(f"There {'is' if pages == 1 else 'are'} {pages} page"
                           f"{'' if pages == 1 else 's'}; pick a page from 1 to {pages}.")
    return page


def clean_text(text: str, limit: int) -> str:
    """Text safe to echo back: normalised, no control characters, no pings, bounded length."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _MENTION.sub("[mention]", text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def display_name(name: str) -> str:
    """A member's display name as we store it: cleaned, never empty."""
    return clean_text(name, MAX_NAME_LENGTH) or "member"


def validate_announcement(message: str) -> str:
    message = message.strip()
    if not message:
        raise InvalidInput("The announcement is empty.")
    if len(message) > 1900:
        raise InvalidInput("Announcements are limited to 1,900 characters.")
    return message
