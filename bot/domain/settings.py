"""Guild settings and administration: what an admin may set, to what, and who is an admin."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot import i18n
from bot.domain.errors import InvalidInput, NotAllowed
from bot.domain.text import clean_text
from bot.i18n import _

if TYPE_CHECKING:
    from bot.storage.base import GuildSettings

MAX_DAILY_REWARD = 10_000
MAX_EXPIRY_HOURS = 24 * 14
NAMES = frozenset({"maintenance", "daily_reward", "challenge_expiry_hours", "day_boundary",
                   "announcement_channel_id", "audit_channel_id", "language"})


def require_admin(is_admin: bool) -> None:
    """Administration (settings, maintenance, export, purge) needs Manage Server."""
    if not is_admin:
        raise NotAllowed(_("You need the Manage Server permission for this command."))


def confirm_purge(confirm: str, guild_name: str) -> None:
    """Deleting a server's data needs the server's exact name typed as confirmation."""
    if confirm.strip() != guild_name:
        raise InvalidInput(_("Nothing was deleted. To delete ALL of this server's guildbot "
                             "data, run the command again and type the server's exact name: "
                             "`{name}`.", name=clean_text(guild_name, 100)))


def zone(name: str) -> timezone | ZoneInfo:
    """The time zone of a stored day boundary; an unknown one (never stored by us) is UTC."""
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
        raise InvalidInput(_(
            "`{name}` is not a time zone I know. Use an IANA name such as `UTC`, "
            "`Europe/Berlin` or `America/New_York`.", name=clean_text(name, 40))) from None
    return name


@functools.cache
def _all_time_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones() | {"UTC"}))


def time_zones_like(typed: str, limit: int = 25) -> list[str]:
    """The time zones whose name contains ``typed`` (case and ``_``/space blind), at most
    ``limit``, for the day boundary's autocomplete."""
    needle = typed.strip().lower().replace(" ", "_")
    return [z for z in _all_time_zones() if needle in z.lower()][:limit]


def validate_daily_reward(value: int) -> int:
    if not 1 <= value <= MAX_DAILY_REWARD:
        raise InvalidInput(_("The daily reward must be between 1 and {most} points.",
                             most=i18n.number(MAX_DAILY_REWARD)))
    return value


def validate_expiry_hours(value: int) -> int:
    if not 1 <= value <= MAX_EXPIRY_HOURS:
        raise InvalidInput(_("Challenge expiry must be between 1 and {most} hours.",
                             most=MAX_EXPIRY_HOURS))
    return value


def validate_language(code: str) -> str:
    """The language of the guild's public messages: one the bot ships."""
    if code not in i18n.LANGUAGES:
        raise InvalidInput(_("`{code}` is not a language I speak. Choose one of: {choices}.",
                             code=clean_text(code, 20), choices=", ".join(i18n.LANGUAGES)))
    return code


_VALIDATORS: dict[str, Callable[[Any], Any]] = {"daily_reward": validate_daily_reward,
               "challenge_expiry_hours": validate_expiry_hours,
               "day_boundary": validate_time_zone,
               "maintenance": bool,
               "language": validate_language}


def validate(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as they are stored (validated, normalised); an unknown name is a bug."""
    unknown = set(changes) - NAMES
    if unknown:
        raise ValueError(f"unknown guild settings: {sorted(unknown)}")
    return {name: _VALIDATORS.get(name, _same)(value) for name, value in changes.items()}


def apply(current: GuildSettings, changes: dict[str, Any]) -> GuildSettings:
    """The settings after validated ``changes`` (see :func:`validate`)."""
    return replace(current, **changes)


def _same(value: Any) -> Any:
    return value
