"""Shared fixtures of the monitoring tests: a fake clock, a fake bot probe, a running Monitoring."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from bot.config import Settings
from bot.monitoring import Intervals, Monitoring

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

    def gateway_ready(self) -> bool:
        return self.ready

    def shard_latencies(self) -> list[tuple[int, float]]:
        return list(self.latencies)

    def guild_count(self) -> int:
        return self.guilds

    async def database_writable(self) -> bool:
        return self.writable

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
