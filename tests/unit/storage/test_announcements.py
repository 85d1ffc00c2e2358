"""Operator announcements in the storage, on both backends (issue 12, cluster-gaps item 1): the
CLI records one, each guild's delivery row is claimed once (however many processes claim it at
once), targets and progress follow the rows."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.announcements import FAILED, SENT, Announcement, Progress

NOW = 1_750_000_000.0
G1, G2, G3 = 111111111111111111, 222222222222222222, 333333333333333333


async def guilds_with_channels(storage) -> None:
    for guild, channel in ((G1, 11), (G2, 22), (G3, None)):
        await storage.guild(guild).ensure(f"g{guild}", NOW)
        await storage.guild(guild).update_settings(announcement_channel_id=channel)


async def test_an_announcement_is_recorded_and_lists_its_targets(storage):
    await guilds_with_channels(storage)
    first = await storage.create_announcement("Maintenance tonight", NOW)
    second = await storage.create_announcement("Back", NOW + 10)
    assert second > first
    assert await storage.announcements_since(NOW + 5) == [Announcement(second, "Back", NOW + 10)]
    assert await storage.announcement_targets(first) == [(G1, 11), (G2, 22)]
    # A guild that left is not a target.
    await storage.guild(G2).mark_left(NOW + 1)
    assert await storage.announcement_targets(first) == [(G1, 11)]


async def test_a_guild_is_claimed_once_and_then_no_longer_a_target(storage):
    """Regression (issue 12, cluster-gaps item 1): a guild's delivery is claimed by one caller
    only; claimed, it is no target any more, and its outcome shows in the progress. Fails on the
    old code because there was no announcement in the database at all (the CLI sent itself)."""
    await guilds_with_channels(storage)
    aid = await storage.create_announcement("hello", NOW)
    assert await storage.claim_announcement(aid, G1, 11, NOW, "process 0")
    assert not await storage.claim_announcement(aid, G1, 11, NOW, "process 1")
    assert await storage.announcement_targets(aid) == [(G2, 22)]
    assert await storage.announcement_progress(NOW - 1) == [Progress(aid, NOW, 0, 0, 1, 1)]
    await storage.finish_announcement(aid, G1, SENT, None)
    assert await storage.claim_announcement(aid, G2, 22, NOW, "process 0")
    await storage.finish_announcement(aid, G2, FAILED, "403 Missing Access")
    assert await storage.announcement_progress(NOW - 1) == [Progress(aid, NOW, 1, 1, 0, 0)]
    assert await storage.announcement_targets(aid) == []
    # Another announcement starts with every guild pending again.
    other = await storage.create_announcement("again", NOW + 1)
    assert await storage.announcement_targets(other) == [(G1, 11), (G2, 22)]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_processes_claiming_at_once_get_each_guild_once(backend, database, storage):
    """Three processes (three pools) claim both guilds at the same moment: each guild goes to
    exactly one of them."""
    await guilds_with_channels(storage)
    aid = await storage.create_announcement("hello", NOW)
    others = [await backend.open(database) for _ in range(2)]
    try:
        claims = await asyncio.gather(*(
            s.claim_announcement(aid, guild, channel, NOW, f"process {n}")
            for n, s in enumerate([storage, *others]) for guild, channel in ((G1, 11), (G2, 22))))
    finally:
        for other in others:
            await other.close()
    assert sorted(claims) == [False] * 4 + [True] * 2
    assert claims[0::2].count(True) == 1 and claims[1::2].count(True) == 1
