"""The unit suites' fixtures: the real bot class never connected (``make_client``), SQLite as
their ``storage`` (tests/unit/storage/ overrides it with both backends), and the member's
answers the tree sends (``answers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import bot.app
from bot.config import Settings
from bot.monitoring import NullMonitoring
from bot.storage.base import Storage


@pytest.fixture
def storage(sqlite_storage: Storage) -> Storage:
    """SQLite: the storage of the bot's, the cogs' and monitoring's suites."""
    return sqlite_storage


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    """``make_client(bot_class, settings, storage, clock)``: the real bot class, never connected
    to a gateway and without start-up side effects (gc.freeze, background tasks); each client
    made is closed (its shedder and HTTP session) when the test ends."""
    made: list[Any] = []

    def make(bot_class: type, settings: Settings, store: Storage,
             clock: Callable[[], float]) -> Any:
        client = bot_class(settings, store, NullMonitoring(settings), clock=clock)
        client._notified_ready = True
        made.append(client)
        return client

    yield make
    for client in made:
        await client.shedder.close()
        await client.http.close()


@pytest.fixture
def answers(monkeypatch) -> list[str]:
    """The texts the tree answered members with (bot.app.answer), each checked ephemeral."""
    sent: list[str] = []

    async def answer(interaction, text: str, *, ephemeral: bool = True) -> None:
        assert ephemeral
        sent.append(text)
    monkeypatch.setattr(bot.app, "answer", answer)
    return sent
