"""Shared fixtures of the monitoring tests: a fake clock, a fake bot probe, a running Monitoring."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from bot.config import Settings
from bot.monitoring import Intervals, Monitoring
from bot.storage.base import StorageSize

# Long periods: the background tasks stay out of the way, tests drive every step explicitly.
QUIET = Intervals(sample=3600, dashboard=3600, loop_lag=3600, alerts=3600, flush=3600,
                  prune_delay=3600)


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeProbe:
    def __init__(self) -> None:
        self.ready = True
        self.writable = True
        self.latencies: list[tuple[int, float]] = [(0, 0.042)]
        self.guilds = 3
        self.size: StorageSize | BaseException = StorageSize(0, 0)

    def gateway_ready(self) -> bool:
        return self.ready

    def shards_ready(self) -> dict[int, bool]:
        return {0: self.ready}

    def maintenance_guild_count(self) -> int:
        return 0

    def shard_latencies(self) -> list[tuple[int, float]]:
        return list(self.latencies)

    def guild_count(self) -> int:
        return self.guilds

    async def database_writable(self) -> bool:
        return self.writable

    async def database_size(self) -> StorageSize:
        if isinstance(self.size, BaseException):
            raise self.size
        return self.size

    def break_heartbeat(self) -> None:
        self.latencies = [(0, math.inf)]


class FakeSink:
    def __init__(self) -> None:
        self.batches: list[list] = []
        self.fail = False
        self.pruned_before: list[float] = []

    async def write_usage(self, rows):
        if self.fail:
            raise OSError("database is locked")
        self.batches.append(list(rows))

    async def prune_usage(self, before: float) -> int:
        self.pruned_before.append(before)
        return 7


class FakeWebhook:
    """POST /api/webhooks/{id}/{token}: records each call, answers from a script (default 204)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.clock = None  # set by a test to stamp calls with its fake clock
        self.script: list[tuple[int, dict[str, Any] | None, dict[str, str]]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(await request.json())
        if self.clock is not None:
            self.times.append(self.clock())
        status, body, headers = self.script.pop(0) if self.script else (204, None, {})
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=json.dumps(body).encode(), headers=headers,
                            content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/webhooks/{id}/{token}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, token: str = "hook-token-abcdefghijklmnopqrstuvwxyz") -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks/123456789/{token}"

    @property
    def texts(self) -> list[str]:
        return [c["content"] for c in self.calls]


@pytest_asyncio.fixture
async def hook() -> AsyncIterator[FakeWebhook]:
    """A fake Discord webhook on loopback."""
    server = FakeWebhook()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def webhook_server_class() -> type[FakeWebhook]:
    return FakeWebhook


@pytest.fixture
def intervals() -> Intervals:
    return QUIET


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def probe() -> FakeProbe:
    return FakeProbe()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database=tmp_path / "guildbot.db", state_dir=tmp_path / "state",
                    backup_dir=tmp_path / "backups", health_port=0)


@pytest_asyncio.fixture
async def monitoring(settings: Settings, clock: FakeClock, probe: FakeProbe
                     ) -> AsyncIterator[Monitoring]:
    mon = Monitoring(settings, sink=FakeSink(), clock=clock, health_port=0, intervals=QUIET,
                     environ={})
    await mon.start(probe)
    try:
        yield mon
    finally:
        await mon.stop()


@pytest_asyncio.fixture
async def http(monitoring: Monitoring) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with aiohttp.ClientSession() as session:
        yield session, f"http://127.0.0.1:{monitoring.health_port}"
