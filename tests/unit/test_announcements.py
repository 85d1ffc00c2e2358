"""Operator announcements sent by the fleet (issue 12, cluster-gaps item 1): each process's share
of the fleet's rate, only its own shards' guilds, each claimed guild once, a refused token ending
the round. The real bot class on a real SQLite database, its sends replaced (no Discord)."""

from __future__ import annotations

from types import SimpleNamespace

import discord

from bot.domain import announcements
from bot.domain.announcements import fleet_processes, send_interval
from tests.unit.test_cluster import G0, G1, NOW, make_process  # noqa: F401 (fixture)

G0B = G0 + (2 << 22)  # another guild of shard 0 of 2


def test_each_process_paces_itself_to_its_share_of_the_fleet_rate():
    """Regression (issue 12, cluster-gaps item 1): the fleet's announcement rate (well inside
    Discord's 50 requests/s) is shared by the processes the shard plan implies. Fails on the old
    code because the module did not exist: one CLI paced itself (0.25 s), however many sent."""
    assert announcements.FLEET_RATE * 2 < 50
    assert fleet_processes(0, (0,)) == 1  # unsharded: the whole fleet
    assert fleet_processes(4, (0, 1, 2, 3)) == 1
    assert fleet_processes(4, (0, 1)) == 2
    assert fleet_processes(5, (3, 4)) == 3  # blocks of 2, 2 and 1 shards: three processes
    assert fleet_processes(4, (3,)) == 4
    assert send_interval(4, (0, 1)) == 2 / announcements.FLEET_RATE


async def _with_channels(storage, *guilds: int) -> None:
    for n, guild in enumerate(guilds):
        await storage.guild(guild).ensure(f"g{n}", NOW)
        await storage.guild(guild).update_settings(announcement_channel_id=100 + n)


def _refusal(status: int) -> discord.HTTPException:
    return discord.HTTPException(SimpleNamespace(status=status, reason="refused"),
                                 {"message": f"{status}: refused", "code": 0})


async def test_a_process_sends_to_its_own_shards_guilds_once(storage, make_process):  # noqa: F811
    """Process of shard 0 of 2: it sends to its two guilds (not to shard 1's), records each
    outcome, and a second round (the next poll, or another process) sends nothing again."""
    await _with_channels(storage, G0, G1, G0B)
    aid = await storage.create_announcement("hello", NOW)
    process = make_process((0,))
    sent_to: list[int] = []

    async def send(item, guild_id, channel_id):
        sent_to.append(guild_id)
        return _refusal(403) if guild_id == G0B else None
    process._send_announcement = send
    todo = await storage.announcements_since(NOW - 1)
    assert await process.send_announcements(todo) == 1
    assert sorted(sent_to) == sorted([G0, G0B])
    assert await storage.announcement_targets(aid) == [(G1, 101)]
    assert await make_process((0,)).send_announcements(todo) == 0  # claimed: never twice
    assert sorted(sent_to) == sorted([G0, G0B])
    [progress] = await storage.announcement_progress(NOW - 1)
    assert (progress.sent, progress.failed, progress.pending) == (1, 1, 1)


async def test_a_refused_token_ends_the_round(storage, make_process):  # noqa: F811
    """A 401 (the token is refused) makes every further send fail the same way and counts toward
    Discord's invalid-request ban: the process stops at once and does not take the announcement
    up again at the next poll."""
    await _with_channels(storage, G0, G0B)
    await storage.create_announcement("hello", NOW)
    process = make_process((0,))
    calls: list[int] = []

    async def send(item, guild_id, channel_id):
        calls.append(guild_id)
        return _refusal(401)
    process._send_announcement = send
    assert await process.send_announcements(await storage.announcements_since(NOW - 1)) == 0
    assert len(calls) == 1
    await process.poll_announcements()
    assert process._announcing is None
