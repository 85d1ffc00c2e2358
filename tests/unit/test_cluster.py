"""A process of a cluster (issue 12, the bot's half): background work only for its own guilds,
maintenance read again from the database, IDENTIFY through the storage's turns, readiness of
every shard. The real bot class on a real SQLite database, never connected to a gateway; each
"process" is a bot with its own shard ids."""

from __future__ import annotations

import asyncio

import pytest

import bot.app
from bot.app import IDENTIFY_MARGIN, GuildBot
from bot.config import ConfigError, Settings, load_settings
from bot.shards import IDENTIFY_INTERVAL, shard_of
from bot.storage.base import StorageUnavailable
from bot.storage.sqlite import SQLiteStorage
from tests.fixtures.pytest_plugin import noon

NOW = 1_750_000_000.0
DAY = 86400.0
# Guilds of shard 0 and shard 1 of 2 (Discord routes by (guild_id >> 22) % shard_count).
G0, G1 = 1000 << 22, 1001 << 22
ANN, BOB = 10, 20


@pytest.fixture
def make_process(storage, make_client):
    def make(shard_ids: tuple[int, ...], shard_count: int = 2, store=None,
             clock=lambda: NOW) -> GuildBot:
        settings = Settings(shard_count=shard_count, shard_ids=shard_ids)
        return make_client(GuildBot, settings, store or storage, clock)
    return make


async def _due_challenge(storage, guild_id: int) -> None:
    repo = storage.guild(guild_id)
    await repo.update_settings(daily_reward=500)
    for user in (ANN, BOB):
        await repo.register(user, f"user{user}", NOW - DAY)
        await repo.daily_login(user, noon("2025-06-14"))
    await repo.create_challenge(ANN, BOB, 200, NOW - DAY, NOW - 60)


async def _points(storage, guild_id: int) -> int:
    repo = storage.guild(guild_id)
    return sum([(await repo.member(user)).points for user in (ANN, BOB)])


def test_the_guilds_of_a_process_are_those_of_its_shards():
    """One helper says which guilds are mine: those whose shard the process runs; every guild
    when it runs every shard (no shard ids, or unsharded)."""
    assert (shard_of(G0, 2), shard_of(G1, 2)) == (0, 1)
    assert Settings(shard_count=2, shard_ids=(0,)).owns_guild(G0)
    assert not Settings(shard_count=2, shard_ids=(0,)).owns_guild(G1)
    assert Settings(shard_count=2, shard_ids=(1,)).owns_guild(G1)
    assert Settings(shard_count=2).owns_guild(G1) and Settings().owns_guild(G1)
    assert Settings(shard_count=4, shard_ids=(2, 3)).own_shards == (2, 3)
    assert Settings(shard_count=4).own_shards == (0, 1, 2, 3)
    assert Settings().own_shards == (0,)


def test_a_guild_cap_is_refused_in_a_process_of_some_shards():
    """Regression (issue 12, item 2): admission counts the guilds one process admitted, so a
    cap in a process running some shards would let the deployment admit the cap once per
    process. Fails on the old code because the setting was accepted."""
    cluster = {"GUILDBOT_DATABASE": "postgresql://guildbot@db/guildbot",
               "GUILDBOT_SHARD_COUNT": "4", "GUILDBOT_SHARD_IDS": "0-1"}
    with pytest.raises(ConfigError, match="GUILDBOT_MAX_GUILDS: the cap is counted by each "
                                          "process.*; set it to 0"):
        load_settings({**cluster, "GUILDBOT_MAX_GUILDS": "2000"})
    assert load_settings({**cluster, "GUILDBOT_MAX_GUILDS": "0"}).max_guilds == 0
    every = load_settings({"GUILDBOT_SHARD_COUNT": "4", "GUILDBOT_MAX_GUILDS": "10"})
    assert every.max_guilds == 10  # one process with every shard counts them all


async def test_expiry_runs_only_for_the_guilds_of_the_process_shards(storage, make_process):
    """Regression (issue 12, item 1): two processes (shard 0 and shard 1 of 2) run their expiry
    job over the due challenges of both guilds: each resolves its own guild's only, so each
    stake is refunded exactly once and the points are conserved. Fails on the old code because
    each process expired every guild's challenges (process 0 resolved guild 1's too)."""
    for guild in (G0, G1):
        await _due_challenge(storage, guild)
    first, second = make_process((0,)), make_process((1,))
    assert await first.expire_challenges() == 1
    assert [c.status for c in await storage.guild(G1).challenges(active_only=False)] == ["open"]
    assert await second.expire_challenges() == 1
    for guild in (G0, G1):
        assert [c.status for c in await storage.guild(guild).challenges(active_only=False)] \
            == ["expired"]
        assert await _points(storage, guild) == 1000
    assert await first.expire_challenges() == await second.expire_challenges() == 0


async def test_the_purge_deletes_only_the_guilds_of_the_process_shards(storage, make_process):
    """Regression (issue 12, item 1): a guild of shard 1 that left 40 days ago is purged by
    the process running shard 1 (it alone knows whether the guild is admitted now), never by
    the process of shard 0. Fails on the old code because any process purged it."""
    repo = storage.guild(G1)
    await repo.ensure("One", NOW - 100 * DAY)
    await repo.register(ANN, "ann", NOW - 100 * DAY)
    await repo.mark_left(NOW - 40 * DAY)
    assert await make_process((0,)).purge_departed_guilds() == 0
    assert await repo.member(ANN) is not None
    assert await make_process((1,)).purge_departed_guilds() == 1
    assert await repo.member(ANN) is None


async def test_a_maintenance_switch_made_elsewhere_reaches_the_process(
        storage, db_path, make_process, monkeypatch):
    """Regression (issue 12, item 2): a guild's maintenance switched on (and off) through
    another process's storage is honoured by this process within its control poll. Fails on
    the old code because the set of guilds in maintenance was read once, at start-up, and only
    this process's own /admin maintenance changed it."""
    monkeypatch.setattr(bot.app, "CONTROL_POLL_INTERVAL", 0.01)
    client = make_process((0,))
    other = await SQLiteStorage.open(db_path, readers=1)  # another process on the database
    watcher = asyncio.create_task(client._watch_control())
    try:
        await other.guild(G0).update_settings(maintenance=True)
        await _eventually(lambda: client.in_maintenance(G0))
        assert not client.in_maintenance(G1)
        await other.guild(G0).update_settings(maintenance=False)
        await _eventually(lambda: not client.in_maintenance(G0))
    finally:
        watcher.cancel()
        await other.close()


async def test_a_database_that_cannot_answer_keeps_the_last_maintenance_set(
        storage, make_process, monkeypatch):
    client = make_process((0,))
    client.maintenance_guilds = {G0}

    async def down() -> list[int]:
        raise StorageUnavailable("PostgreSQL read failed")
    monkeypatch.setattr(storage, "guilds_in_maintenance", down)
    await client.refresh_maintenance()
    assert client.in_maintenance(G0)

    async def bug() -> list[int]:
        raise KeyError("a bug")
    monkeypatch.setattr(storage, "guilds_in_maintenance", bug)
    await client.refresh_maintenance()  # recorded, not raised: the control loop goes on
    assert client.in_maintenance(G0)


async def test_identify_waits_for_its_bucket_through_the_storage(storage, make_process,
                                                                  monkeypatch):
    """Regression (issue 12, item 3): before each IDENTIFY the process takes its bucket's turn
    (shard_id % max_concurrency, max_concurrency asked once from GET /gateway/bot) from the
    storage, which PostgreSQL shares between processes. Fails on the old code because
    discord.py's own hook slept 5 s in the process (none before its first shard) and never
    asked the storage."""
    client = make_process((2, 3), shard_count=4)
    turns: list[tuple[int, float]] = []
    asked: list[bool] = []

    async def take(bucket: int, interval: float) -> None:
        turns.append((bucket, interval))

    async def gateway() -> tuple[int, str, dict]:
        asked.append(True)
        return 4, "wss://gateway", {"max_concurrency": 2}
    monkeypatch.setattr(storage, "take_identify_turn", take)
    monkeypatch.setattr(client.http, "get_bot_gateway", gateway)
    await client.before_identify_hook(2, initial=True)
    await client.before_identify_hook(3, initial=False)
    interval = IDENTIFY_INTERVAL + IDENTIFY_MARGIN
    assert turns == [(0, interval), (1, interval)]
    assert asked == [True]


async def test_identify_without_the_database_waits_on_its_own(storage, make_process,
                                                               monkeypatch):
    """The hook never raises (discord.py would close the client): with the database down it
    waits the interval itself, and without an answer from Discord every shard is in bucket 0."""
    client = make_process((1,))
    slept: list[float] = []

    async def down(bucket: int, interval: float) -> None:
        raise StorageUnavailable("PostgreSQL write failed")

    async def no_gateway() -> tuple[int, str, dict]:
        raise bot.app.discord.GatewayNotFound()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
    monkeypatch.setattr(storage, "take_identify_turn", down)
    monkeypatch.setattr(client.http, "get_bot_gateway", no_gateway)
    monkeypatch.setattr(bot.app.asyncio, "sleep", sleep)
    await client.before_identify_hook(1)
    assert slept == [IDENTIFY_INTERVAL + IDENTIFY_MARGIN]
    assert await client._identify_buckets() == 1


async def test_ready_means_every_shard_of_the_process(make_process):
    """Regression (issue 12, item 4): a process of shards 0 and 1 is ready only while both
    sessions are; one shard disconnecting makes it not ready until that shard resumes. Fails
    on the old code because a shard's disconnect and another's resume left it "ready"."""
    client = make_process((0, 1))
    await client.on_shard_ready(0)
    await client.on_ready()
    assert not client.gateway_ready()  # shard 1 has no session yet
    await client.on_shard_ready(1)
    assert client.gateway_ready()
    assert client.shards_ready() == {0: True, 1: True}
    await client.on_shard_disconnect(1)
    assert not client.gateway_ready()
    assert client.shards_ready() == {0: True, 1: False}
    await client.on_shard_resumed(1)
    assert client.gateway_ready()


async def test_only_the_process_of_shard_0_syncs_the_commands(make_process, monkeypatch):
    """Regression (issue 12): the command tree is synced once per rollout, by the one process
    running shard 0, not by every process of the cluster. Fails on the old code because every
    process synced at its start when it found the tree's hash changed."""
    synced: list[tuple[int, ...]] = []
    for shard_ids in ((0, 1), (2, 3)):
        client = make_process(shard_ids, shard_count=4)

        async def sync(client=client) -> bool:
            synced.append(client.settings.own_shards)
            return True
        monkeypatch.setattr(client, "sync_commands_if_changed", sync)
        await client.setup_hook()
        for task in client._background:
            task.cancel()
    assert synced == [(0, 1)]


async def _eventually(predicate, limit: float = 5.0) -> None:
    """Poll a condition the bot reaches asynchronously (no timing is asserted)."""
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
