"""Every method of the guild repository, with its failure paths."""

from __future__ import annotations

import sqlite3

import pytest

from bot.domain.challenges import CLAIM_WINDOW_HOURS, DISPUTE_WINDOW_HOURS
from bot.domain.errors import (
    AlreadyRegistered,
    ChallengeNotFound,
    InsufficientPoints,
    InvalidInput,
    NotRegistered,
    UserError,
)
from bot.storage.base import GuildSettings, SchemaError, StorageUnavailable, UsageRow
from tests.fixtures.pytest_plugin import export_of, noon

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
        await repo.daily_login(user, noon("2024-01-01"))
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
    first, _ = await repo.daily_login(ANN, noon("2024-01-01"))
    assert (first.awarded, first.member.streak, first.already_claimed) == (100, 1, False)
    again, _ = await repo.daily_login(ANN, noon("2024-01-01"))
    assert (again.awarded, again.already_claimed, again.member.points) == (0, True, 100)
    second, _ = await repo.daily_login(ANN, noon("2024-01-02"))
    assert (second.awarded, second.member.streak) == (110, 2)
    broken, _ = await repo.daily_login(ANN, noon("2024-01-05"))
    assert (broken.awarded, broken.member.streak, broken.streak_broken) == (100, 1, True)
    assert broken.member.best_streak == 2
    assert broken.member.total_logins == 3
    assert broken.member.points == 310
    with pytest.raises(NotRegistered):
        await repo.daily_login(BOB, noon("2024-01-05"))


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


# A refused verb changes nothing, so one challenge serves every refusal of its phase:
# (verb, its arguments after the challenge number, what the refusal says).
REFUSED_WHILE_OPEN = (
    ("accept_challenge", (CID, NOW), "Only the challenged"),
    ("decline_challenge", (ANN, NOW), "Only the challenged"),
    ("cancel_challenge", (BOB, NOW), "Only the member who made"),
    ("complete_challenge", (BOB, ANN, NOW), "only accepted"),
)
REFUSED_WHILE_ACCEPTED = (
    ("accept_challenge", (BOB, NOW), "is accepted"),
    ("cancel_challenge", (ANN, NOW), "only open"),
    ("complete_challenge", (CID, ANN, NOW), "Only the players"),
    ("complete_challenge", (BOB, CID, NOW), "one of the two"),
)


async def refused(repo, number, refusals):
    for verb, args, message in refusals:
        with pytest.raises(InvalidInput, match=message):
            await getattr(repo, verb)(number, *args)


async def test_challenge_failure_paths(storage):
    repo = await funded(storage, users=(ANN, BOB, CID))
    with pytest.raises(InvalidInput, match="yourself"):
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
    await refused(repo, c.challenge_id, REFUSED_WHILE_OPEN)
    await repo.accept_challenge(c.challenge_id, BOB, NOW)
    await refused(repo, c.challenge_id, REFUSED_WHILE_ACCEPTED)
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
    assert len(await repo.expire_challenges(NOW + HOUR)) == 2
    assert (await repo.member(ANN)).points == 500
    assert (await repo.member(BOB)).points == 500
    statuses = {c.challenge_id: c.status for c in await repo.challenges(active_only=False)}
    assert statuses == {1: "declined", 2: "cancelled", 3: "expired", 4: "expired"}


async def test_due_challenges_expire_in_number_order_on_both_backends(storage):
    """Issue 15, D1 (one due-challenges statement for both backends, bot/storage/statements.py):
    the expiry resolves a guild's due challenges in number order on both backends. Not a
    regression test (SQLite read them in primary-key order already, without saying so); it
    fails when the shared statement loses its ORDER BY: PostgreSQL then returns #2 (due first)
    before #1 (seen with the ORDER BY removed)."""
    repo = await funded(storage)
    await repo.create_challenge(ANN, BOB, 10, NOW, NOW + 2 * HOUR)
    await repo.create_challenge(ANN, BOB, 10, NOW, NOW + HOUR)
    assert [c.challenge_id for c in await repo.expire_challenges(NOW + 2 * HOUR)] == [1, 2]


async def test_accepting_an_expired_challenge_refunds_and_fails(storage):
    repo = await funded(storage)
    await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    with pytest.raises(InvalidInput, match="expired"):
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
    profiles = [await repo.profile(u) for u in (BOB, CID, ANN)]
    assert [(member.user_id, member.points, rank) for member, rank in profiles] == \
        [(BOB, 500, 1), (CID, 500, 2), (ANN, 400, 3)]
    assert profiles[2][0] == await repo.member(ANN)
    assert await repo.profile(999) is None


async def test_a_leaderboard_page_past_the_end_still_counts_the_members(storage):
    """The page and the member count come from one statement; a page past the end has no
    entry but the count, and a guild without members counts 0."""
    assert await storage.guild(G).leaderboard(0, 10) == ([], 0)
    repo = await funded(storage, users=(ANN, BOB, CID))
    assert await repo.leaderboard(10, 10) == ([], 3)
    entries, total = await repo.leaderboard(1, 10)
    assert ([e.rank for e in entries], total) == ([2, 3], 3)


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
    data = await export_of(repo)
    assert data["guild_id"] == str(G)
    assert [m["user_id"] for m in data["members"]] == [str(ANN), str(BOB)]
    assert len(data["challenges"]) == 1
    await repo.mark_left(NOW)
    assert await storage.guilds_left_before(NOW + 1) == [G]
    assert await storage.guilds_left_before(NOW) == []
    await repo.ensure("back again", NOW + 2)
    assert await storage.guilds_left_before(NOW + 10) == []
    await repo.purge()
    assert (await export_of(repo))["members"] == []
    assert not await repo.known()
    assert len((await export_of(other))["members"]) == 2


async def test_meta_and_writable(storage):
    assert await storage.get_meta("k") is None
    await storage.set_meta("k", "v1")
    await storage.set_meta("k", "v2")
    assert await storage.get_meta("k") == "v2"
    assert await storage.writable()


async def test_open_refuses_an_unmigrated_database(backend):
    empty = backend.empty_database()
    try:
        with pytest.raises(SchemaError, match="run `guildbot-cli migrate`"):
            await backend.open(empty)
    finally:
        backend.drop_database(empty)


async def _accepted(storage, accept_at=NOW + 1):
    """Ann challenges Bob for 100 (accept window: one hour); Bob accepts at ``accept_at``."""
    repo = await funded(storage, users=(ANN, BOB, CID))
    await repo.create_challenge(ANN, BOB, 100, NOW, NOW + HOUR)
    await repo.accept_challenge(1, BOB, accept_at)
    return repo


async def _points(repo, *users):
    return tuple([(await repo.member(u)).points for u in users])


async def test_the_play_deadline_counts_from_acceptance(storage):
    """Regression (issue 13, item 12): a challenge accepted a minute before its accept deadline
    gets the same window again from acceptance, and a game nobody reports by then is refunded.
    Fails on the old code because the accepted challenge expired at the creation deadline, a
    minute after it was accepted."""
    accepted_at = NOW + HOUR - 60
    repo = await _accepted(storage, accept_at=accepted_at)
    c = (await repo.challenges())[0]
    assert (c.accepted_at, c.expires_at) == (accepted_at, accepted_at + HOUR)
    assert await storage.guilds_with_due_challenges(NOW + HOUR) == []
    assert len(await repo.expire_challenges(NOW + HOUR)) == 0
    assert (await repo.challenges())[0].status == "accepted"
    assert len(await repo.expire_challenges(accepted_at + HOUR)) == 1  # no claim: both refunded
    assert await _points(repo, ANN, BOB) == (500, 500)
    assert (await repo.challenges(active_only=False))[0].status == "expired"


async def test_an_undisputed_claim_pays_the_claimant_when_its_window_ends(storage):
    """Regression (issue 13, item 12): the winner claims; if the loser never answers, the
    claim settles for the winner at the end of the claim window (the loser no longer gets
    the stake back by staying silent). Fails on the old code because a player could not name
    themselves ("the losing side reports") and silence expired the game with refunds."""
    repo = await _accepted(storage)
    claimed = await repo.complete_challenge(1, ANN, ANN, NOW + 2)
    assert (claimed.status, claimed.claimant_id, claimed.winner_id) == ("accepted", ANN, None)
    assert claimed.expires_at == NOW + 2 + CLAIM_WINDOW_HOURS * HOUR
    assert await _points(repo, ANN, BOB) == (400, 400)  # nothing paid yet
    with pytest.raises(InvalidInput, match="already claimed"):
        await repo.complete_challenge(1, ANN, ANN, NOW + 3)
    with pytest.raises(InvalidInput, match="has claimed challenge #1"):
        await repo.complete_challenge(1, BOB, BOB, NOW + 3)  # a counter-claim is refused
    assert len(await repo.expire_challenges(claimed.expires_at - 1)) == 0
    assert len(await repo.expire_challenges(claimed.expires_at)) == 1
    done = (await repo.challenges(active_only=False))[0]
    assert (done.status, done.winner_id) == ("completed", ANN)
    assert await _points(repo, ANN, BOB) == (600, 400)


async def test_confirming_a_claim_settles_it_at_once(storage):
    """Regression (issue 13, item 12): the other player confirms a claim by naming the
    claimant as winner. Fails on the old code because the claim itself was refused."""
    repo = await _accepted(storage)
    await repo.complete_challenge(1, BOB, BOB, NOW + 2)  # Bob claims
    done = await repo.complete_challenge(1, ANN, BOB, NOW + 3)  # Ann confirms
    assert (done.status, done.winner_id) == ("completed", BOB)
    assert await _points(repo, ANN, BOB) == (400, 600)


async def test_a_dispute_waits_for_an_admin_who_is_not_playing(storage):
    """Regression (issue 13, item 12): a disputed claim is settled only by an admin who is not
    a player; an admin who plays only claims. Fails on the old code because an admin player
    settled their own game in their favour at once, and there was no dispute."""
    repo = await _accepted(storage)
    claim = await repo.complete_challenge(1, ANN, ANN, NOW + 2, reporter_is_admin=True)
    assert (claim.status, claim.claimant_id) == ("accepted", ANN)  # a claim, not a settlement
    with pytest.raises(InvalidInput, match="own claim"):
        await repo.dispute_challenge(1, ANN, NOW + 3)
    with pytest.raises(InvalidInput, match="Only the players"):
        await repo.dispute_challenge(1, CID, NOW + 3)
    disputed = await repo.dispute_challenge(1, BOB, NOW + 3)
    assert disputed.disputed_at == NOW + 3
    assert disputed.expires_at == NOW + 3 + DISPUTE_WINDOW_HOURS * HOUR
    with pytest.raises(InvalidInput, match="already disputed"):
        await repo.dispute_challenge(1, BOB, NOW + 4)
    with pytest.raises(InvalidInput, match="is disputed"):
        await repo.complete_challenge(1, ANN, ANN, NOW + 4, reporter_is_admin=True)
    with pytest.raises(InvalidInput, match="Only the players, or an admin"):
        await repo.complete_challenge(1, CID, BOB, NOW + 4)
    settled = await repo.complete_challenge(1, CID, BOB, NOW + 5, reporter_is_admin=True)
    assert (settled.status, settled.winner_id) == ("completed", BOB)
    assert await _points(repo, ANN, BOB) == (400, 600)


async def test_a_dispute_nobody_settles_is_refunded(storage):
    """Regression (issue 13, item 12): a disputed challenge no admin settles within the
    dispute window gives both stakes back. Fails on the old code (no claims or disputes)."""
    repo = await _accepted(storage)
    await repo.complete_challenge(1, ANN, ANN, NOW + 2)
    disputed = await repo.dispute_challenge(1, BOB, NOW + 3)
    assert len(await repo.expire_challenges(disputed.expires_at)) == 1
    assert (await repo.challenges(active_only=False))[0].status == "expired"
    assert await _points(repo, ANN, BOB) == (500, 500)


async def test_acting_after_a_deadline_resolves_the_challenge_first(storage):
    """Regression (issue 13, item 12): a dispute after the claim window is refused, and the
    claim it came too late for is settled (committed) on the spot, as the expiry job would.
    Fails on the old code, which had no claim window."""
    repo = await _accepted(storage)
    claim = await repo.complete_challenge(1, ANN, ANN, NOW + 2)
    with pytest.raises(InvalidInput, match="not disputed in time"):
        await repo.dispute_challenge(1, BOB, claim.expires_at)
    done = (await repo.challenges(active_only=False))[0]
    assert (done.status, done.winner_id) == ("completed", ANN)
    assert await _points(repo, ANN, BOB) == (600, 400)


async def test_the_repository_applies_the_stake_rule_itself(storage):
    """Regression (domain-core, item 2): the stake rule is bot.domain's, applied by the
    repository, so any caller gets the rule's message for a stake out of range. Fails on the
    old code because only the cog checked the stake: the repository ran into the schema's CHECK
    (stake > 0) and raised a raw sqlite3.IntegrityError, an internal error."""
    repo = await funded(storage)
    for stake in (0, -5, 1_000_001):
        with pytest.raises(InvalidInput, match="between 1 and 1,000,000"):
            await repo.create_challenge(ANN, BOB, stake, NOW, NOW + HOUR)
    assert (await repo.member(ANN)).points == 500
    assert await repo.challenges() == []


async def test_the_repository_applies_the_settings_rules_itself(storage):
    """Regression (domain-core, item 2): guild settings are validated by bot.domain.settings in
    the repository, whoever calls it. Fails on the old code because only the cog validated:
    the repository stored a daily reward of 0 and a time zone that does not exist."""
    repo = storage.guild(G)
    await repo.ensure("Guild", NOW)
    for changes, error in [({"daily_reward": 0}, "daily reward"),
                           ({"challenge_expiry_hours": 0}, "expiry"),
                           ({"day_boundary": "Nowhere/Land"}, "not a time zone")]:
        with pytest.raises(InvalidInput, match=error):
            await repo.update_settings(**changes)
    assert await repo.settings() == GuildSettings(G)
    assert (await repo.update_settings(day_boundary=" utc ")).day_boundary == "UTC"


async def test_a_database_failure_is_not_a_user_error(sqlite_storage, monkeypatch):
    """Regression (domain-core, item 1): SQLite's technical failures (here the writer meets a
    lock past its busy timeout, or a read fails) reach the caller as StorageUnavailable, never
    as a user error nor as a raw sqlite3 error. Fails on the old code, where the raw
    sqlite3.OperationalError escaped (there was no StorageUnavailable). PostgreSQL's
    counterpart (the server stopped under the pool) is in test_postgres.py."""
    storage = sqlite_storage
    repo = storage.guild(G)

    async def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")
    monkeypatch.setattr(storage, "write", locked)
    with pytest.raises(StorageUnavailable, match="database is locked") as caught:
        await repo.register(ANN, "ann", NOW)
    assert not isinstance(caught.value, UserError)
    # Regression (issue 11): purge wrote without the mapping, so its lock escaped raw.
    with pytest.raises(StorageUnavailable, match="database is locked"):
        await repo.purge()
    monkeypatch.setattr(storage, "fetchall", locked)
    with pytest.raises(StorageUnavailable):
        await repo.member(ANN)


async def test_challenge_message_is_recorded_per_guild_and_expiry_returns_the_resolved(storage):
    """Issue 14 (components): where a challenge's public message is, recorded on the challenge
    and read back only in its own guild; the expiry returns the challenges it resolved, so the
    job can edit their messages. Fails on the old code, which had neither method and returned
    a count."""
    repo = await funded(storage)
    other = await funded(storage, guild=OTHER)
    made = await repo.create_challenge(ANN, BOB, 10, NOW, NOW + HOUR)
    await other.create_challenge(ANN, BOB, 10, NOW, NOW + HOUR)
    assert await repo.challenge_message(made.challenge_id) is None
    await repo.set_challenge_message(made.challenge_id, 555, 777)
    assert await repo.challenge_message(made.challenge_id) == (555, 777)
    assert await other.challenge_message(made.challenge_id) is None  # same number, other guild
    assert await repo.challenge(made.challenge_id) == made
    with pytest.raises(ChallengeNotFound):
        await repo.challenge(99)
    expired = await repo.expire_challenges(NOW + HOUR)
    assert [(c.challenge_id, c.status, c.guild_id) for c in expired] == [(1, "expired", G)]
    assert await repo.challenge_message(1) == (555, 777)  # kept: the message still exists
    assert (await repo.challenge(1)).status == "expired"
