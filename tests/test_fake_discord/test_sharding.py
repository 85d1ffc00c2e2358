"""Discord's sharding rules, enforced by the fake across all connections (several processes on one
token), each proven with real discord.py clients; removing a rule from the fake fails a test here.

Two "processes" are two ``AutoShardedBot`` clients in this event loop, ``shard_ids=[0, 1]`` and
``[2, 3]`` of ``shard_count=4``: their ``before_identify_hook``s are not coordinated, exactly as
for two processes. Each pauses the fake's IDENTIFY window before a non-initial IDENTIFY, as
discord.py pauses 5 s against Discord's 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.fake_discord import FakeDiscord
from tests.fake_discord.gateway import Undelivered
from tests.fake_discord.testing import pointed_at, serving
from tests.test_fake_discord.conftest import (
    IDENTIFY_WINDOW,
    TOKEN,
    FakeTestBot,
    Running,
    ShardedTestBot,
    control,
)

SHARDS = 4
PROCESS_A = [0, 1]
PROCESS_B = [2, 3]


@contextlib.asynccontextmanager
async def started(guilds: int = 8, **options: Any) -> AsyncIterator[FakeDiscord]:
    """A validating fake with ``guilds`` guilds (consecutive ids: two per shard of 4), each
    with a member ``user``; fails the test at exit on any recorded error."""
    options.setdefault("identify_window", IDENTIFY_WINDOW)
    fake = FakeDiscord(token=TOKEN, validate=True, strict_requests=True, **options)
    for i in range(guilds):
        fake.add_guild(f"g{i}").add_member("user")
    async with serving(fake):
        yield fake


class Process(Running):
    """One process of the cluster: an ``AutoShardedBot`` owning ``shard_ids`` of 4 shards; it
    records the interactions it was sent."""

    def __init__(self, shard_ids: list[int]) -> None:
        super().__init__(ShardedTestBot(shard_ids=shard_ids, shard_count=SHARDS))
        self.shard_ids = shard_ids
        self.interactions: list[int] = []

        async def on_interaction(interaction: discord.Interaction) -> None:
            self.interactions.append(interaction.id)

        self.bot.add_listener(on_interaction)

    async def start(self, fake: FakeDiscord, **kwargs: Any) -> None:
        self.bot.identify_pause = fake.gateway.identify_window  # type: ignore[attr-defined]
        await super().start(fake, shard_ids=self.shard_ids, **kwargs)


def owned(fake: FakeDiscord, shard_ids: list[int]) -> set[int]:
    return {g.id for g in fake.guilds if g.shard_id(SHARDS) in shard_ids}


def assert_rate_kept(fake: FakeDiscord) -> None:
    """No two accepted IDENTIFYs of one bucket closer than the window (from the fake's log)."""
    gateway = fake.gateway
    by_bucket: defaultdict[int, list[float]] = defaultdict(list)
    for record in gateway.identify_log:
        assert record.bucket == record.shard % gateway.max_concurrency
        by_bucket[record.bucket].append(record.at)
    for times in by_bucket.values():
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        assert all(gap >= gateway.identify_window for gap in gaps), gaps


async def get_gateway_bot(fake: FakeDiscord) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with http.get(f"{fake.api_base}/gateway/bot", headers=headers) as response:
            assert response.status == 200
            return await response.json()


async def test_gateway_bot_recommends_one_shard_per_1000_guilds() -> None:
    """``shards`` is one per 1,000 joined guilds (at least 1); ``session_start_limit`` carries
    the configured ``max_concurrency`` (every answer is OpenAPI-validated)."""
    async with started(guilds=1000, max_concurrency=16) as fake:
        first = await get_gateway_bot(fake)
        assert first["shards"] == 1
        limit = first["session_start_limit"]
        assert (limit["total"], limit["remaining"], limit["max_concurrency"]) == (1000, 1000, 16)
        assert 0 < limit["reset_after"] <= 86_400_000
        fake.add_guild("one more")
        assert (await get_gateway_bot(fake))["shards"] == 2
        fake.add_guild("not joined", joined=False)
        assert (await get_gateway_bot(fake))["shards"] == 2


async def test_session_start_limit_counts_down_per_identify() -> None:
    """``remaining`` drops by one per session start (a re-IDENTIFY after op 9 included)."""
    async with started(guilds=2) as fake:
        runner = Running(FakeTestBot())
        await runner.start(fake)
        try:
            assert (await get_gateway_bot(fake))["session_start_limit"]["remaining"] == 999
            await fake.invalidate_session(resumable=False)
            await fake.wait_for_identify(count=2)
            assert (await get_gateway_bot(fake))["session_start_limit"]["remaining"] == 998
            assert fake.gateway.identify_refusals == []  # the bot's hook paused before it
        finally:
            await runner.stop()


async def test_session_start_limit_exhausted_resets_the_token() -> None:
    """An IDENTIFY with no session start left: the token is reset, every session ends (4004),
    the old token no longer authenticates, and the fake records the misuse."""
    fake = FakeDiscord(token=TOKEN, session_start_total=1, identify_window=IDENTIFY_WINDOW)
    fake.add_guild("Alpha")
    await fake.start()
    runner = Running(FakeTestBot())
    try:
        with pointed_at(fake):
            await runner.start(fake)
            assert fake.gateway.session_start_limit()["remaining"] == 0
            await fake.invalidate_session(resumable=False)  # the bot must IDENTIFY again
            with pytest.raises(discord.ConnectionClosed) as closed:
                await asyncio.wait_for(runner.task, 10)
            assert closed.value.code == 4004
            assert fake.token != TOKEN
            assert fake.gateway.by_shard == {}
            assert len(fake.identifies) == 1
            assert [e.where for e in fake.errors] == ["IDENTIFY"]
            assert "session start limit (1) exhausted" in fake.errors[0].detail
            with pytest.raises(discord.LoginFailure):
                await FakeTestBot().login(TOKEN)
            await runner.bot.close()
    finally:
        await fake.stop()


async def test_two_processes_identifying_at_once_collide_in_one_bucket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """max_concurrency 1: both processes' first shards IDENTIFY at the same moment; the later
    one is refused with op 9 Invalid Session (d: false), its client IDENTIFYs again after its
    hook's pause, and every accepted IDENTIFY kept the rate."""
    caplog.set_level(logging.INFO, logger="discord.gateway")
    async with started(max_concurrency=1, identify_window=0.5) as fake:
        a, b = Process(PROCESS_A), Process(PROCESS_B)
        try:
            await asyncio.gather(a.start(fake), b.start(fake))
            gateway = fake.gateway
            assert gateway.identify_refusals, "two simultaneous IDENTIFYs in bucket 0 passed"
            assert {r.bucket for r in gateway.identify_refusals} == {0}
            assert gateway.identify_refusals[0].shard in (0, 2)  # a process's first shard
            invalidated = [r for r in caplog.records if "has been invalidated" in r.getMessage()]
            assert len(invalidated) == len(gateway.identify_refusals)  # op 9, d: false
            assert sorted(r.shard for r in gateway.identify_log) == [0, 1, 2, 3]
            assert_rate_kept(fake)
            assert fake.gateway_ops[2] == len(gateway.identify_log) + len(gateway.identify_refusals)
            report = await control(fake, "GET", "/_fake/gateway")
            assert report["refused"] == len(gateway.identify_refusals)
            assert [i["shard"] for i in report["identifies"]] == [
                r.shard for r in gateway.identify_log
            ]
            assert {g.id for g in a.bot.guilds} == owned(fake, PROCESS_A)
            assert {g.id for g in b.bot.guilds} == owned(fake, PROCESS_B)
        finally:
            await asyncio.gather(a.stop(), b.stop())


async def test_buckets_are_shard_id_modulo_max_concurrency() -> None:
    """max_concurrency 4: shards 0 and 2 are in different buckets, so the same simultaneous
    start is never refused."""
    async with started(max_concurrency=4, identify_window=0.5) as fake:
        a, b = Process(PROCESS_A), Process(PROCESS_B)
        try:
            await asyncio.gather(a.start(fake), b.start(fake))
            assert fake.gateway.identify_refusals == []
            assert sorted(r.bucket for r in fake.gateway.identify_log) == [0, 1, 2, 3]
            assert_rate_kept(fake)
        finally:
            await asyncio.gather(a.stop(), b.stop())


async def test_each_process_gets_only_its_guilds_and_their_interactions() -> None:
    """Guilds route by ``(guild_id >> 22) % shard_count``; an interaction goes only to the
    owning shard's session, and with no session there (not started yet, or closed cleanly)
    nothing is delivered: the fake raises ``Undelivered`` and reports it."""
    async with started(max_concurrency=4) as fake:
        a, b = Process(PROCESS_A), Process(PROCESS_B)
        guild_b = next(g for g in fake.guilds if g.shard_id(SHARDS) == 2)
        try:
            await a.start(fake)
            with pytest.raises(Undelivered, match="shard 2 \\(of 4\\) has no gateway session"):
                await fake.invoke(guild_b, "user", "profile")
            await b.start(fake)
            for process in (a, b):
                assert {g.id for g in process.bot.guilds} == owned(fake, process.shard_ids)
            for guild in fake.guilds:
                inter = await fake.invoke(guild, "user", "profile")
                reply = await inter.wait_response()
                assert reply.content.startswith(f"profile of user in {guild.name}")
                owner, other = (a, b) if guild.shard_id(SHARDS) in PROCESS_A else (b, a)
                assert inter.id in owner.interactions
                assert inter.id not in other.interactions
            assert len(a.interactions) + len(b.interactions) == len(fake.guilds)

            await b.stop()  # a clean close (1000) ends B's sessions, as on Discord
            assert sorted(fake.gateway.by_shard) == PROCESS_A
            with pytest.raises(Undelivered):
                await fake.invoke(guild_b, "user", "profile")
            with pytest.raises(Undelivered):
                await fake.remove_guild_live(guild_b)
            report = await control(fake, "GET", "/_fake/gateway")
            assert [(u["event"], u["shard"]) for u in report["undelivered"]] == [
                ("INTERACTION_CREATE", 2),
                ("INTERACTION_CREATE", 2),
                ("GUILD_DELETE", 2),
            ]
            answer = await control(
                fake, "POST", "/_fake/invoke", {"guild": guild_b.name, "command": "profile"}, 400
            )
            assert "has no gateway session" in answer["error"]
            assert len(a.interactions) == len(owned(fake, PROCESS_A))
        finally:
            await asyncio.gather(a.stop(), b.stop())


async def test_a_disagreeing_shard_count_is_refused_4010() -> None:
    """While shards of 4 are connected, IDENTIFYs with 2 shards or unsharded close 4010 and
    leave the running processes alone. Once A stopped cleanly and B crashed (its sessions only
    disconnected), the bot comes back with 2 shards and B's stale sessions of 4 are dropped."""
    async with started(max_concurrency=4) as fake:
        a, b = Process(PROCESS_A), Process(PROCESS_B)
        await asyncio.gather(a.start(fake), b.start(fake))
        try:
            for bot in (ShardedTestBot(shard_ids=[0], shard_count=2), FakeTestBot()):
                await bot.login(TOKEN)
                with pytest.raises(discord.ConnectionClosed) as closed:
                    await asyncio.wait_for(bot.connect(reconnect=True), 10)
                assert closed.value.code == 4010
                await bot.close()
            assert sorted(fake.gateway.by_shard) == PROCESS_A + PROCESS_B
            assert {s.shard_count for s in fake.gateway.by_shard.values()} == {SHARDS}
            for guild in fake.guilds:
                inter = await fake.invoke(guild, "user", "profile")
                await inter.wait_response()
            await a.stop()
            for shard in PROCESS_B:  # B crashes: no close frame, the sessions stay resumable
                await fake.drop_gateway(shard)
            await b.stop()
            assert sorted(fake.gateway.by_shard) == PROCESS_B
        finally:
            await asyncio.gather(a.stop(), b.stop())
        resharded = Running(ShardedTestBot(shard_count=2))
        await resharded.start(fake)
        try:
            assert len(resharded.bot.guilds) == len(fake.guilds)
            assert sorted(fake.gateway.by_shard) == [0, 1]
            assert {s.shard_count for s in fake.gateway.by_shard.values()} == {2}
        finally:
            await resharded.stop()


async def test_too_many_guilds_for_one_session_is_4011() -> None:
    """Over ``max_guilds_per_session`` guilds (Discord: 2,500) an unsharded session closes 4011
    Sharding required; two shards of two guilds each are accepted."""
    async with started(guilds=4, max_guilds_per_session=3) as fake:
        bot = FakeTestBot()
        await bot.login(TOKEN)
        with pytest.raises(discord.ConnectionClosed) as closed:
            await asyncio.wait_for(bot.connect(reconnect=True), 10)
        assert closed.value.code == 4011
        await bot.close()
        assert fake.gateway.by_shard == {}
        sharded = Running(ShardedTestBot(shard_count=2))
        await sharded.start(fake)
        try:
            assert len(sharded.bot.guilds) == 4
        finally:
            await sharded.stop()


@pytest.mark.parametrize(
    "option", [{"max_concurrency": 0}, {"identify_window": -1.0}, {"session_start_total": 0}]
)
def test_impossible_sharding_options_are_a_clear_error(option: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be >= 1, identify_window >= 0"):
        FakeDiscord(**option)
