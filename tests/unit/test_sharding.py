"""One process, some shards: the client runs exactly the shards its settings name."""

from __future__ import annotations

from bot.app import GuildBot, ShardedGuildBot, create_bot
from bot.config import Settings
from bot.monitoring import NullMonitoring


async def test_a_process_runs_only_its_shard_ids(storage):
    settings = Settings(shard_count=4, shard_ids=(1, 3))
    bot = create_bot(settings, storage, NullMonitoring(settings))
    try:
        assert isinstance(bot, ShardedGuildBot)
        assert (bot.shard_count, bot.shard_ids) == (4, [1, 3])
    finally:
        await bot.http.close()  # never started: discord.py's close() expects a running client


async def test_without_shard_ids_a_sharded_process_runs_them_all(storage):
    every = Settings(shard_count=2)
    bot = create_bot(every, storage, NullMonitoring(every))
    try:
        assert isinstance(bot, ShardedGuildBot)
        assert (bot.shard_count, bot.shard_ids) == (2, None)  # discord.py: all of shard_count
    finally:
        await bot.http.close()
    plain = create_bot(Settings(), storage, NullMonitoring(Settings()))
    try:
        assert type(plain) is GuildBot
    finally:
        await plain.close()
