"""Helpers for test suites that run a discord.py client against the fake.

    from tests.fake_discord.testing import fake_discord, pointed_at  # noqa: F401 (fixture)

``fake_discord`` is a pytest fixture: a started ``FakeDiscord(validate=True)`` that fails the
test at teardown if the fake recorded any error (unknown route, schema violation, protocol
misuse). ``pointed_at(fake)`` redirects discord.py's two URLs for the duration of a block;
``serving(fake)`` does both for a fake of your own making.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fake_discord.server import FakeDiscord


@contextlib.contextmanager
def pointed_to(api_base: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py's REST base and default gateway at URLs, restore them afterwards."""
    import discord
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py at a started ``FakeDiscord`` for the duration of a block."""
    with pointed_to(fake.api_base, fake.gateway_url):
        yield fake


@contextlib.asynccontextmanager
async def serving(fake: FakeDiscord) -> AsyncIterator[FakeDiscord]:
    """Start ``fake``, point discord.py at it for the block, stop it, then fail on any error it
    recorded (unknown route, schema violation, protocol misuse)."""
    await fake.start()
    try:
        with pointed_at(fake):
            yield fake
    finally:
        await fake.stop()
    fake.assert_no_errors()


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with serving(FakeDiscord(validate=True)) as fake:
        yield fake
