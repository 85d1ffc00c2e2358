"""Every method of the guild repository, with its failure paths."""

from __future__ import annotations

import pytest

from bot.storage.base import (
    AlreadyRegistered,
    ChallengeNotFound,
    ChallengeStateError,
    GuildSettings,
    InsufficientPoints,
    NotRegistered,
    UsageRow,
)

G, OTHER = 111111111111111111, 222222222222222222
ANN, BOB, CID = 10, 20, 30
NOW = 1_700_000_000.0
HOUR = 3600.0


async def funded(storage, guild=G, users=(ANN, BOB), points=500):
    repo = storage.guild(guild)
    for user in users:
        await repo.register(user, f"user{user}", NOW)
    # Points come only from check-ins: give each member `points` through the reward setting.
    await repo.update_settings(daily_reward=points)
    for user in users:
        await repo.daily_login(user, "2024-01-01", "2023-12-31")
    await repo.update_settings(daily_reward=100)
    return repo


async def test_repository_refuses_a_missing_guild_id(storage):
    for bad in (0, -1, None, "1"):
        with pytest.raises(ValueError, match="positive guild id"):
            storage.guild(bad)


async def test_ensure_settings_and_update(storage):
    repo = storage.guild(G)
    assert not await repo.known()
    assert await repo.settings() == GuildSettings(G)
    settings = await repo.ensure("Alpha", NOW)
    assert settings == GuildSettings(G)
    assert await repo.known()
    updated = await repo.update_settings(daily_reward=250, day_boundary="Europe/Berlin",
                                         announcement_channel_id=99, maintenance=True)
    assert (updated.daily_reward, updated.day_boundary, updated.maintenance) == \
        (250, "Europe/Berlin", True)
    assert await repo.settings() == updated
    assert await storage.guilds_in_maintenance() == [G]
    assert await storage.announcement_channels() == [(G, 99)]
    assert await storage.guild(OTHER).settings() == GuildSettings(OTHER)
    with pytest.raises(ValueError, match="unknown guild settings"):
        await repo.update_settings(guild_id=OTHER)


async def test_update_settings_creates_the_guild_row(storage):
    settings = await storage.guild(G).update_settings(daily_reward=5)
    assert settings.daily_reward == 5
    assert await storage.guild(G).known()


async def test_register_and_member(storage):
    repo = storage.guild(G)
    member = await repo.register(ANN, "Ann", NOW)
    assert (member.user_id, member.display_name, member.points, member.streak) == (ANN, "Ann", 0, 0)
    assert await repo.member(ANN) == member
    assert await repo.member(BOB) is None
    with pytest.raises(AlreadyRegistered):
        await repo.register(ANN, "Ann again", NOW)


async def test_daily_login_streaks_and_rewards(storage):
    repo = storage.guild(G)
    await repo.register(ANN, "Ann", NOW)
    first = await repo.daily_login(ANN, "2024-01-01", "2023-12-31")
    assert (first.awarded, first.member.streak, first.already_claimed) == (100, 1, False)
    again = await repo.daily_login(ANN, "2024-01-01", "2023-12-31")
    assert (again.awarded, again.already_claimed, again.member.points) == (0, True, 100)
    second = await repo.daily_login(ANN, "2024-01-02", "2024-01-01")
    assert (second.awarded, second.member.streak) == (110, 2)
    broken = await repo.daily_login(ANN, "2024-01-05", "2024-01-04")
    assert (broken.awarded, broken.member.streak, broken.streak_broken) == (100, 1, True)
    assert broken.member.best_streak == 2
    assert broken.member.total_logins == 3
    assert broken.member.points == 310
    with pytest.raises(NotRegistered):
        await repo.daily_login(BOB, "2024-01-05", "2024-01-04")


async def test_challenge_lifecycle_completed(storage):
    repo = await funded(storage)
    c = await repo.create_challenge(ANN, BOB, 200, NOW, NOW + HOUR)
    assert (c.challenge_id, c.status, c.stake) == (1, "open", 200)
    assert (await repo.member(ANN)).points == 300  # escrowed
    accepted = await repo.accept_challenge(1, BOB, NOW + 1)
    assert accepted.status == "accepted"
    assert (await repo.member(BOB)).points == 300
    done = await repo.complete_challenge(1, BOB, ANN, NOW + 2)  # Bob concedes
    assert (done.status, done.winner_id) == ("completed", ANN)
    ann, bob = await repo.member(ANN), await repo.member(BOB)
    assert (ann.points, ann.wins, bob.points, bob.losses) == (700, 1, 300, 1)


async def test_challenge_failure_paths(storage):
    repo = await funded(storage, users=(ANN, BOB, CID))
    with pytest.raises(ChallengeStateError, match="yourself"):
        await repo.create_challenge(ANN, ANN, 10, NOW, NOW + HOUR)
    with pytest.raises(NotRegistered):
        await repo.create_challenge(ANN, 999, 10, NOW, NOW + HOUR)
    with pytest.raises(NotRegistered):
        await repo.create_challenge(999, ANN, 10, NOW, NOW + HOUR)
    with pytest.raises(InsufficientPoints):
        await repo.create_challenge(ANN, BOB, 501, NOW, NOW + HOUR)
    assert (await repo.member(ANN)).points == 500  # nothing lost by the failures
    c = await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    with pytest.raises(ChallengeNotFound):
        await repo.accept_challenge(99, BOB, NOW)
    with pytest.raises(ChallengeStateError, match="Only the challenged"):
        await repo.accept_challenge(c.challenge_id, CID, NOW)
    with pytest.raises(ChallengeStateError, match="Only the challenged"):
        await repo.decline_challenge(c.challenge_id, ANN, NOW)
    with pytest.raises(ChallengeStateError, match="Only the member who made"):
        await repo.cancel_challenge(c.challenge_id, BOB, NOW)
    with pytest.raises(ChallengeStateError, match="only accepted"):
        await repo.complete_challenge(c.challenge_id, BOB, ANN, NOW)
    await repo.accept_challenge(c.challenge_id, BOB, NOW)
    with pytest.raises(ChallengeStateError, match="is accepted"):
        await repo.accept_challenge(c.challenge_id, BOB, NOW)
    with pytest.raises(ChallengeStateError, match="only open"):
        await repo.cancel_challenge(c.challenge_id, ANN, NOW)
    with pytest.raises(ChallengeStateError, match="losing side"):
        await repo.complete_challenge(c.challenge_id, ANN, ANN, NOW)
    with pytest.raises(ChallengeStateError, match="Only the players"):
        await repo.complete_challenge(c.challenge_id, CID, ANN, NOW)
    with pytest.raises(ChallengeStateError, match="one of the two"):
        await repo.complete_challenge(c.challenge_id, BOB, CID, NOW)
    settled = await repo.complete_challenge(c.challenge_id, CID, BOB, NOW, reporter_is_admin=True)
    assert settled.winner_id == BOB


async def test_accept_needs_the_opponents_points(storage):
    repo = await funded(storage)
    await repo.create_challenge(ANN, BOB, 400, NOW, NOW + HOUR)
    await repo.create_challenge(BOB, ANN, 200, NOW, NOW + HOUR)  # Bob now has 300
    with pytest.raises(InsufficientPoints):
        await repo.accept_challenge(1, BOB, NOW)
    assert (await repo.challenges(active_only=True))[-1].status == "open"


async def test_decline_cancel_refund_and_expiry(storage):
    repo = await funded(storage)
    await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    declined = await repo.decline_challenge(1, BOB, NOW)
    assert declined.status == "declined"
    await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    assert (await repo.cancel_challenge(2, ANN, NOW)).status == "cancelled"
    assert (await repo.member(ANN)).points == 500
    await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    await repo.create_challenge(BOB, ANN, 50, NOW, NOW + HOUR)
    await repo.accept_challenge(4, ANN, NOW)
    assert await storage.guilds_with_due_challenges(NOW) == []
    assert await storage.guilds_with_due_challenges(NOW + HOUR) == [G]
    assert await repo.expire_challenges(NOW + HOUR) == 2
    assert (await repo.member(ANN)).points == 500
    assert (await repo.member(BOB)).points == 500
    statuses = {c.challenge_id: c.status for c in await repo.challenges(active_only=False)}
    assert statuses == {1: "declined", 2: "cancelled", 3: "expired", 4: "expired"}


async def test_accepting_an_expired_challenge_refunds_and_fails(storage):
    repo = await funded(storage)
    await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    with pytest.raises(ChallengeStateError, match="expired"):
        await repo.accept_challenge(1, BOB, NOW + 2 * HOUR)
    assert (await repo.member(ANN)).points == 500
    assert (await repo.challenges(active_only=False))[0].status == "expired"


async def test_challenge_listing_filters(storage):
    repo = await funded(storage, users=(ANN, BOB, CID))
    await repo.create_challenge(ANN, BOB, 10, NOW, NOW + HOUR)
    await repo.create_challenge(BOB, CID, 10, NOW, NOW + HOUR)
    await repo.cancel_challenge(2, BOB, NOW)
    assert [c.challenge_id for c in await repo.challenges()] == [1]
    assert [c.challenge_id for c in await repo.challenges(active_only=False)] == [2, 1]
    assert [c.challenge_id for c in await repo.challenges(CID, active_only=False)] == [2]
    assert await repo.challenges(CID) == []
    assert len(await repo.challenges(active_only=False, limit=1)) == 1


async def test_stats_leaderboard_rank(storage):
    repo = await funded(storage, users=(ANN, BOB, CID))
    await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    stats = await repo.stats("2024-01-01")
    assert (stats.members, stats.total_points, stats.logins_today, stats.open_challenges) == \
        (3, 1500, 3, 1)
    assert (await repo.stats("2024-01-02")).logins_today == 0
    entries, total = await repo.leaderboard(0, 2)
    assert total == 3
    assert [(e.rank, e.user_id, e.points) for e in entries] == [(1, BOB, 500), (2, CID, 500)]
    page2, _ = await repo.leaderboard(2, 2)
    assert [(e.rank, e.user_id) for e in page2] == [(3, ANN)]
    assert [await repo.rank(u) for u in (BOB, CID, ANN)] == [1, 2, 3]
    assert await repo.rank(999) is None


async def test_usage_written_in_batches_scoped_and_pruned(storage):
    rows = [UsageRow(NOW + i, G if i % 2 else OTHER, "profile", "success", 2.0) for i in range(10)]
    rows.append(UsageRow(NOW, G, "login", "failure", 4.0))
    await storage.write_usage(rows)
    mine = {u.command: u for u in await storage.guild(G).usage(NOW - 1)}
    assert mine["profile"].calls == 5
    assert (mine["login"].calls, mine["login"].failures) == (1, 1)
    overall = {u.command: u.calls for u in await storage.usage_summary(NOW - 1)}
    assert overall == {"profile": 10, "login": 1}
    assert await storage.prune_usage(NOW + 5) == 6
    assert sum(u.calls for u in await storage.usage_summary(0)) == 5


async def test_export_purge_and_retention(storage):
    repo = await funded(storage)
    await repo.create_challenge(ANN, BOB, 10, NOW, NOW + HOUR)
    other = await funded(storage, guild=OTHER)
    data = await repo.export()
    assert data["guild_id"] == str(G)
    assert [m["user_id"] for m in data["members"]] == [str(ANN), str(BOB)]
    assert len(data["challenges"]) == 1
    await repo.mark_left(NOW)
    assert await storage.guilds_left_before(NOW + 1) == [G]
    assert await storage.guilds_left_before(NOW) == []
    await repo.ensure("back again", NOW + 2)
    assert await storage.guilds_left_before(NOW + 10) == []
    await repo.purge()
    assert (await repo.export())["members"] == []
    assert not await repo.known()
    assert len((await other.export())["members"]) == 2


async def test_meta_and_writable(storage):
    assert await storage.get_meta("k") is None
    await storage.set_meta("k", "v1")
    await storage.set_meta("k", "v2")
    assert await storage.get_meta("k") == "v2"
    assert await storage.writable()


async def test_open_refuses_an_unmigrated_database(tmp_path):
    from bot.storage.sqlite import SQLiteStorage

    with pytest.raises(RuntimeError, match="run `guildbot-cli migrate`"):
        await SQLiteStorage.open(tmp_path / "empty.db")
