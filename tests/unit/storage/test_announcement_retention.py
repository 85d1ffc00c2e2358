"""Operator announcements' delivery rows leave the database, on both backends (issue 15): with
their guild when it is purged (an admin's purge or the retention purge), and with their
announcement when it is older than the retention (``Storage.prune_announcements``)."""

from __future__ import annotations

import sqlite3

from bot.domain.announcements import SENT

NOW = 1_750_000_000.0
DAY = 86400.0
G1, G2 = 111111111111111111, 222222222222222222


async def delivery_rows(backend, database: str) -> list[tuple[int, int]]:
    """(announcement id, guild id) of every delivery row, read past the storage's API."""
    sql = "SELECT announcement_id, guild_id FROM announcement_deliveries ORDER BY 1, 2"
    if backend.server is None:
        with sqlite3.connect(database) as conn:
            return [tuple(row) for row in conn.execute(sql)]
    conn = await backend.connect(database)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def delivered(storage, message: str, at: float) -> int:
    """An announcement recorded at ``at`` and delivered to both guilds."""
    aid = await storage.create_announcement(message, at)
    for guild, channel in ((G1, 11), (G2, 22)):
        assert await storage.claim_announcement(aid, guild, channel, at, "process 0")
        await storage.finish_announcement(aid, guild, SENT, None)
    return aid


async def guilds(storage) -> None:
    for guild, channel in ((G1, 11), (G2, 22)):
        await storage.guild(guild).ensure(f"g{guild}", NOW - 10 * DAY)
        await storage.guild(guild).update_settings(announcement_channel_id=channel)


async def test_a_purged_guild_leaves_no_delivery_row(backend, database, storage):
    """Regression (issue 15, announcement deliveries): purging a guild deletes its delivery
    rows (its channel id and the outcome) and only its own. Fails on the old code because the
    purge deleted the guild's tables but not ``announcement_deliveries``."""
    await guilds(storage)
    aid = await delivered(storage, "hello", NOW)
    await storage.guild(G1).mark_left(NOW)
    assert await storage.guild(G1).purge(left_before=NOW + 1)
    assert await delivery_rows(backend, database) == [(aid, G2)]
    assert await storage.guild(G2).purge()
    assert await delivery_rows(backend, database) == []


async def test_old_announcements_are_pruned_with_their_deliveries(backend, database, storage):
    """Regression (issue 15, announcement deliveries): ``prune_announcements`` deletes the
    announcements recorded before the cutoff and every guild's delivery rows of them, and
    keeps the newer ones. Fails on the old code because there was no such call: announcements
    and their deliveries were kept forever."""
    await guilds(storage)
    old = await delivered(storage, "old", NOW - 5 * DAY)
    new = await delivered(storage, "new", NOW)
    assert await storage.prune_announcements(NOW - DAY) == 1
    assert await delivery_rows(backend, database) == [(new, G1), (new, G2)]
    assert [a.announcement_id for a in await storage.announcements_since(0)] == [new]
    assert old != new
    assert await storage.prune_announcements(NOW - DAY) == 0
