"""Which shard a guild belongs to, and how a set of shards is written.

Discord routes a guild's events to shard ``(guild_id >> 22) % shard_count``; every process of a
deployment uses these helpers to decide what is its own (``Settings.owns_guild``), so background
work for a guild runs in exactly one process: the one running its shard.
"""

from __future__ import annotations

from collections.abc import Iterable

# Discord accepts one IDENTIFY per bucket (shard_id % max_concurrency) per 5 s, across every
# connection of the bot (https://discord.com/developers/docs/events/gateway#sharding).
IDENTIFY_INTERVAL = 5.0


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives ``guild_id``'s events (0 for an unsharded bot)."""
    return (guild_id >> 22) % shard_count if shard_count > 1 else 0


def label(shard_ids: Iterable[int]) -> str:
    """Shard ids as ranges, the way GUILDBOT_SHARD_IDS takes them: ``0-1``, ``0,2,4-5``."""
    ids = sorted(set(shard_ids))
    parts: list[str] = []
    start = previous = None
    for shard in [*ids, None]:
        if shard is not None and previous is not None and shard == previous + 1:
            previous = shard
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = shard
    return ",".join(parts)
