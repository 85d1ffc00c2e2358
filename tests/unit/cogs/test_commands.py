"""Every command's logic, with a real SQLite database and no Discord in the way."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.cogs import admin, challenges, members, stats
from bot.cogs._common import Person
from bot.config import Settings
from bot.domain.errors import AlreadyRegistered, InvalidInput, NotRegistered, UserError
from bot.monitoring import Intervals, Monitoring, NullMonitoring

G = 777777777777777777
ANN = Person(1, "ann", admin=True)
BOB = Person(2, "bob")
CID = Person(3, "cid")
ROBOT = Person(9, "robot", bot=True)
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
async def repo(storage):
    repo = storage.guild(G)
    await repo.ensure("Guild", NOW)
    return repo


async def registered(repo, *people, login=True):
    for person in people:
        await members.do_register(repo, person, NOW)
        if login:
            await members.do_login(repo, person, NOW)


async def test_register(repo):
    reply = await members.do_register(repo, ANN, NOW)
    assert "Welcome, <@1>" in reply.content
    with pytest.raises(AlreadyRegistered):
        await members.do_register(repo, ANN, NOW)
    with pytest.raises(UserError, match="Bots cannot register"):
        await members.do_register(repo, ROBOT, NOW)


async def test_login_respects_the_guild_day_boundary(repo):
    await registered(repo, ANN, login=False)
    first = await members.do_login(repo, ANN, NOW)
    assert "+100 points" in first.content
    assert "Tomorrow's check-in is worth 110 points" in first.content
    again = await members.do_login(repo, ANN, NOW + 3600)
    assert again.ephemeral
    assert "already checked in" in again.content
    # In Pacific/Kiritimati (UTC+14) 12:00 UTC + 11 h is already the next day.
    await repo.update_settings(day_boundary="Pacific/Kiritimati")
    next_day = await members.do_login(repo, ANN, NOW + 11 * 3600)
    assert "+110 points" in next_day.content
    with pytest.raises(NotRegistered):
        await members.do_login(repo, BOB, NOW)


async def test_profile(repo):
    await registered(repo, ANN)
    reply = await members.do_profile(repo, ANN, None)
    fields = {f.name: f.value for f in reply.embed.fields}
    assert reply.embed.title == "Profile of ann"
    assert (fields["Points"], fields["Rank"], fields["Streak"]) == ("100", "#1", "1 (best 1)")
    with pytest.raises(NotRegistered, match="bob has not registered"):
        await members.do_profile(repo, ANN, BOB)
    with pytest.raises(NotRegistered, match="You are not registered"):
        await members.do_profile(repo, BOB, None)


async def test_challenge_commands(repo):
    await registered(repo, ANN, BOB, CID)
    made = await challenges.do_create(repo, BOB, CID, 40, NOW)
    assert "challenge:1" in made.content
    assert "Mar 11, 2024, 12:00 UTC" in made.content  # default expiry 24 h
    for who, opponent, stake, error in [(BOB, BOB, 5, "yourself"), (BOB, ROBOT, 5, "Bots"),
                                        (BOB, CID, 0, "between 1"), (BOB, CID, 10**9, "between")]:
        with pytest.raises((UserError, InvalidInput), match=error):
            await challenges.do_create(repo, who, opponent, stake, NOW)
    assert "accepted" in (await challenges.do_accept(repo, CID, 1, NOW)).content
    listing = await challenges.do_list(repo, ANN, None, False)
    assert "#1: <@2> vs <@3> for 40 points (accepted" in listing.embed.description
    claim = await challenges.do_complete(repo, CID, 1, CID, NOW)  # Cid claims the win
    assert "<@2>, <@3> claims to have won challenge #1" in claim.content
    assert "they win 80 points" in claim.content
    with pytest.raises(InvalidInput, match="already claimed"):
        await challenges.do_complete(repo, CID, 1, CID, NOW)
    assert "is disputed" in (await challenges.do_dispute(repo, BOB, 1, NOW)).content
    listing = await challenges.do_list(repo, ANN, None, False)
    assert "disputed: an admin who is not playing settles it" in listing.embed.description
    settled = await challenges.do_complete(repo, ANN, 1, CID, NOW)  # an admin, not playing
    assert "<@3> wins 80 points" in settled.content

    await challenges.do_create(repo, BOB, CID, 5, NOW)
    assert "5 points back" in (await challenges.do_decline(repo, CID, 2, NOW)).content
    await challenges.do_create(repo, BOB, CID, 5, NOW)
    assert (await challenges.do_cancel(repo, BOB, 3, NOW)).ephemeral
    assert "No active challenges" in (await challenges.do_list(repo, BOB, BOB, False)).content
    history = await challenges.do_list(repo, BOB, BOB, True)
    assert history.embed.description.count("\n") == 2
    rules = await challenges.do_rules()
    assert rules.ephemeral and "counted from the acceptance" in rules.content
    assert "never settle their own game" in rules.content


async def test_stats_and_leaderboard(repo):
    await registered(repo, ANN, BOB)
    public = await stats.do_stats(repo, BOB, NOW, NullMonitoring())
    fields = {f.name: f.value for f in public.embed.fields}
    assert (fields["Members"], fields["Check-ins today"]) == ("2", "2")
    assert not public.ephemeral
    assert not any("Command usage" in f.name for f in public.embed.fields)
    private = await stats.do_stats(repo, ANN, NOW, NullMonitoring())
    assert private.ephemeral
    assert any("Command usage" in f.name for f in private.embed.fields)
    board = await stats.do_leaderboard(repo, 1)
    assert board.embed.description.splitlines()[0] == "**1.** ann: 100 points (streak 1)"
    assert board.embed.footer.text == "Page 1/1 · 2 members"
    with pytest.raises(InvalidInput, match="pick a page from 1 to 1"):
        await stats.do_leaderboard(repo, 2)


@pytest.fixture
def monitoring(storage, tmp_path):
    """Monitoring writing usage to the test database, its batch never flushed by a timer."""
    settings = Settings(database=tmp_path / "guildbot.db", state_dir=tmp_path / "state",
                        backup_dir=tmp_path / "backups", health_port=0)
    return Monitoring(settings, sink=storage, clock=lambda: NOW,
                      intervals=Intervals(flush=3600), environ={})


def usage_of(reply):
    return next(f.value for f in reply.embed.fields if "Command usage" in f.name)


async def test_stats_counts_the_commands_just_run(repo, monitoring):
    """Regression (issue 13, item 2): an admin who runs commands and then /stats sees them,
    without waiting for the analytics batch to be written, and written plus waiting rows are
    each counted once. Fails on the old code because /stats read only the database, where the
    batch lands every 10 s: it said "No commands recorded yet." (the local stage's flaky
    transcript), and after a flush it missed the rows buffered since."""
    monitoring.observe_command("login", G, "success", 0.010)
    monitoring.observe_command("register", G, "user_error", 0.004)
    monitoring.observe_command("login", G + 1, "success", 0.5)  # another guild: not counted
    assert usage_of(await stats.do_stats(repo, ANN, NOW, monitoring)) == (
        "`/login` 1 call, 0 failed, 10 ms avg\n`/register` 1 call, 0 failed, 4 ms avg")

    assert await monitoring.usage.flush() == 3
    monitoring.observe_command("login", G, "failure", 0.030)
    assert usage_of(await stats.do_stats(repo, ANN, NOW, monitoring)) == (
        "`/login` 2 calls, 1 failed, 20 ms avg\n`/register` 1 call, 0 failed, 4 ms avg")


async def test_purge_drops_the_usage_rows_still_in_the_batch(repo, storage, monitoring):
    """Regression (issue 13, item 2): /admin purge deletes the usage rows still waiting in the
    analytics batch too, so /stats right after it and the database after the next flush agree
    that nothing is left. Fails on the old code because the purge only deleted the stored rows:
    the waiting ones were written back by the next flush (and /stats would show them)."""
    monitoring.observe_command("login", G, "success", 0.010)
    monitoring.observe_command("login", G + 1, "success", 0.010)  # another guild: kept
    await admin.do_purge(repo, ANN, "Guild", "Guild", monitoring, NOW)
    assert usage_of(await stats.do_stats(repo, ANN, NOW, monitoring)) == (
        "No commands recorded yet.")
    assert await monitoring.usage.flush() == 1
    assert await repo.usage(0) == []
    assert [u.calls for u in await storage.guild(G + 1).usage(0)] == [1]


async def test_leaderboard_of_an_empty_guild(storage):
    empty = await stats.do_leaderboard(storage.guild(G + 1), 1)
    assert "Nobody has registered" in empty.content


async def test_admin_commands(repo):
    await registered(repo, BOB)
    with pytest.raises(UserError, match="Manage Server"):
        await admin.do_settings(repo, BOB, now=NOW, daily_reward=5)
    for command in (admin.do_maintenance(repo, BOB, True, NOW), admin.do_export(repo, BOB, NOW),
                    admin.do_purge(repo, BOB, "Guild", "Guild", NullMonitoring(), NOW)):
        with pytest.raises(UserError, match="Manage Server"):
            await command
    changed = await admin.do_settings(repo, ANN, now=NOW, daily_reward=20,
                                      challenge_expiry_hours=2, day_boundary="utc",
                                      announcement_channel_id=5)
    assert "Daily reward: 20 points" in changed.content
    assert "Challenge expiry: 2 hours" in changed.content
    assert "<#5>" in changed.content
    for kwargs, error in [({"daily_reward": 0}, "daily reward"),
                          ({"challenge_expiry_hours": 10_000}, "expiry"),
                          ({"day_boundary": "Nowhere/Land"}, "not a time zone")]:
        with pytest.raises(InvalidInput, match=error):
            await admin.do_settings(repo, ANN, now=NOW, **kwargs)
    assert "Maintenance is on" in (await admin.do_maintenance(repo, ANN, True, NOW)).content
    assert (await repo.settings()).maintenance

    export = await admin.do_export(repo, ANN, NOW)
    name, blob = export.file
    assert name == f"guildbot-export-{G}.json"
    data = json.loads(blob)
    assert data["exported_at"].startswith("2024-03-10T12:00")
    assert [m["display_name"] for m in data["members"]] == ["bob"]

    with pytest.raises(UserError, match="Nothing was deleted"):
        await admin.do_purge(repo, ANN, "Guild", "guild", NullMonitoring(), NOW)
    assert await repo.member(BOB.id) is not None
    await admin.do_purge(repo, ANN, "Guild", "Guild", NullMonitoring(), NOW)
    assert await repo.member(BOB.id) is None
