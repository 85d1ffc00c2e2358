"""Guild settings and administration rules (bot.domain.settings)."""

from __future__ import annotations

from datetime import UTC

import pytest

from bot.domain import settings
from bot.domain.errors import InvalidInput, NotAllowed
from bot.storage.base import GuildSettings


def test_administration_needs_manage_server():
    settings.require_admin(True)
    with pytest.raises(NotAllowed, match="Manage Server"):
        settings.require_admin(False)


def test_a_purge_needs_the_exact_server_name():
    settings.confirm_purge(" Guild ", "Guild")
    with pytest.raises(InvalidInput, match="Nothing was deleted.*`Guild`"):
        settings.confirm_purge("guild", "Guild")
    with pytest.raises(InvalidInput, match=r"`\[mention\] fans`"):  # the name is echoed safely
        settings.confirm_purge("x", "@everyone fans")


def test_time_zones():
    assert settings.validate_time_zone(" utc ") == "UTC"
    assert settings.validate_time_zone("Europe/Berlin") == "Europe/Berlin"
    for bad in ("Nowhere/Land", "<@1>", "../etc/passwd"):
        with pytest.raises(InvalidInput, match="not a time zone I know"):
            settings.validate_time_zone(bad)
    assert settings.zone("utc") is UTC
    assert str(settings.zone("Europe/Berlin")) == "Europe/Berlin"
    assert settings.zone("Not/AZone") is UTC  # never stored by us; read as UTC


def test_number_ranges():
    assert settings.validate_daily_reward(1) == 1
    assert settings.validate_daily_reward(settings.MAX_DAILY_REWARD) == settings.MAX_DAILY_REWARD
    for bad in (0, settings.MAX_DAILY_REWARD + 1):
        with pytest.raises(InvalidInput, match="daily reward must be between 1 and 10,000"):
            settings.validate_daily_reward(bad)
    assert settings.validate_expiry_hours(336) == 336
    for bad in (0, 337):
        with pytest.raises(InvalidInput, match="expiry must be between 1 and 336 hours"):
            settings.validate_expiry_hours(bad)


def test_changes_are_validated_and_normalised_then_applied():
    changes = settings.validate({"daily_reward": 20, "challenge_expiry_hours": 2,
                                 "day_boundary": " utc ", "announcement_channel_id": 5,
                                 "maintenance": 1})
    assert changes == {"daily_reward": 20, "challenge_expiry_hours": 2, "day_boundary": "UTC",
                       "announcement_channel_id": 5, "maintenance": True}
    assert settings.apply(GuildSettings(9), changes) == GuildSettings(9, True, 20, 2, "UTC", 5)
    with pytest.raises(InvalidInput, match="daily reward"):
        settings.validate({"daily_reward": 0})
    with pytest.raises(ValueError, match="unknown guild settings: \\['guild_id'\\]"):
        settings.validate({"guild_id": 1})
