"""Command localizations (issue 14): the fake Discord accepts ``name_localizations`` and
``description_localizations`` of commands, options and choices as Discord does, and refuses a
key that is not one of the spec's locales or a value Discord would not take (50035)."""

from __future__ import annotations

import discord
import pytest

from tests.fake_discord import FakeDiscord
from tests.fake_discord.openapi import available_locales
from tests.test_fake_discord.conftest import Running


def command(**localized: object) -> dict:
    return {"name": "hello", "description": "Say hello", "type": 1,
            "description_localizations": {"de": "Hallo sagen", "es-ES": "Saludar"},
            "options": [{"type": 3, "name": "mood", "description": "How",
                         "description_localizations": {"es-419": "Cómo"},
                         "choices": [{"name": "happy", "value": "happy",
                                      "name_localizations": {"de": "fröhlich"}}]}],
            **localized}


async def test_localizations_are_stored_as_sent(fake: FakeDiscord, running: Running) -> None:
    http = running.bot.http
    await http.bulk_upsert_global_commands(fake.state.application_id, [command()])
    (stored,) = fake.synced_commands["global"]
    assert stored["description_localizations"] == {"de": "Hallo sagen", "es-ES": "Saludar"}
    assert stored["options"][0]["choices"][0]["name_localizations"] == {"de": "fröhlich"}


@pytest.mark.parametrize("localized", [
    {"description_localizations": {"german": "Hallo sagen"}},  # not a locale
    {"description_localizations": {"de": ""}},  # empty
    {"description_localizations": {"de": "x" * 101}},  # over 100
    {"name_localizations": {"de": "x" * 33}},  # a name is at most 32
])
async def test_a_localization_discord_refuses_is_refused(fake: FakeDiscord, running: Running,
                                                         localized: dict) -> None:
    with pytest.raises(discord.HTTPException) as refused:
        await running.bot.http.bulk_upsert_global_commands(fake.state.application_id,
                                                           [command(**localized)])
    assert refused.value.status == 400 and refused.value.code == 50035
    # Recorded as the fake's errors (the refusal; the spec's schema too where it sees it).
    assert "rest" in {e.kind for e in fake.errors}, fake.errors
    fake.errors.clear()


def test_the_locales_are_the_specs() -> None:
    assert {"de", "es-ES", "es-419", "en-US", "en-GB"} <= available_locales()
    assert "german" not in available_locales()
