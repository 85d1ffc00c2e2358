"""One bot class for every deployment (issue 15): an AutoShardedBot that runs exactly the shards
its settings name; unsharded is one shard of one."""

from __future__ import annotations

from discord.ext import commands

from bot.app import GuildBot, create_bot
from bot.config import Settings
from bot.monitoring import NullMonitoring


async def test_a_process_runs_only_its_shard_ids(storage):
    settings = Settings(shard_count=4, shard_ids=(1, 3))
    bot = create_bot(settings, storage, NullMonitoring(settings))
    try:
        assert isinstance(bot, GuildBot)
        assert (bot.shard_count, bot.shard_ids) == (4, [1, 3])
    finally:
        await bot.http.close()  # never started: discord.py's close() expects a running client


async def test_without_shard_ids_a_sharded_process_runs_them_all(storage):
    every = Settings(shard_count=2)
    bot = create_bot(every, storage, NullMonitoring(every))
    try:
        assert (bot.shard_count, bot.shard_ids) == (2, None)  # discord.py: all of shard_count
    finally:
        await bot.http.close()


async def test_an_unsharded_process_is_the_same_class_with_one_shard(storage):
    """Issue 15 (one bot class): without GUILDBOT_SHARD_COUNT the bot is the same
    AutoShardedBot, running shard 0 of 1 (not discord.py's recommended count, which would ask
    Discord), so its gateway events, readiness and latencies are per shard like a cluster's.
    Fails on the old code because an unsharded process was a plain ``commands.Bot``."""
    plain = create_bot(Settings(), storage, NullMonitoring(Settings()))
    try:
        assert type(plain) is GuildBot
        assert isinstance(plain, commands.AutoShardedBot)
        assert (plain.shard_count, plain.shard_ids) == (1, None)
        assert plain.shards_ready() == {0: False}
    finally:
        await plain.http.close()
