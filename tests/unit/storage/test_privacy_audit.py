"""Deleting a member's data and the audit trail, on both backends (issue 14, part 3)."""

from __future__ import annotations

from bot.domain.audit import AuditEntry
from bot.storage.export import size_floor
from tests.fixtures.pytest_plugin import export_of, noon
from tests.unit.storage.test_repository import ANN, BOB, CID, HOUR, NOW, OTHER, G, funded

TODAY = "2024-01-01"


async def test_forget_refunds_the_other_side_once_and_keeps_the_totals_coherent(storage):
    """The deleted member's balance and own stakes leave; the other players get their escrowed
    stakes back exactly once; every other row stays; the guild's points (balances plus escrow)
    drop by exactly what the member held."""
    repo = await funded(storage, users=(ANN, BOB, CID))
    await repo.create_challenge(ANN, BOB, 50, NOW, NOW + HOUR)       # #1 open, Ann challenger
    await repo.create_challenge(BOB, ANN, 70, NOW, NOW + HOUR)       # #2 open, Ann opponent
    await repo.create_challenge(ANN, CID, 30, NOW, NOW + HOUR)       # #3 accepted below
    await repo.accept_challenge(3, CID, NOW + 1)
    await repo.create_challenge(BOB, CID, 10, NOW, NOW + HOUR)       # #4 not Ann's: untouched
    await repo.create_challenge(CID, ANN, 5, NOW, NOW + HOUR)        # #5 completed
    await repo.accept_challenge(5, ANN, NOW + 1)
    await repo.complete_challenge(5, ANN, CID, NOW + 2)              # Ann concedes
    before = await repo.stats(TODAY)
    ann = await repo.member(ANN)
    bob, cid = await repo.member(BOB), await repo.member(CID)
    # Ann holds her balance and her stakes in #1 and #3 (#2 is Bob's stake only).
    held = ann.points + 50 + 30

    forgotten = await repo.forget_member(ANN)

    assert forgotten is not None and forgotten.points == held and forgotten.challenges == 4
    assert sorted(forgotten.refunds) == sorted([(BOB, 70), (CID, 30)])
    assert await repo.member(ANN) is None
    assert (await repo.member(BOB)).points == bob.points + 70
    assert (await repo.member(CID)).points == cid.points + 30
    assert (await repo.member(CID)).wins == cid.wins  # what Cid won stays his
    assert [c.challenge_id for c in await repo.challenges(active_only=False)] == [4]
    after = await repo.stats(TODAY)
    assert after.total_points == before.total_points - held
    assert after.members == before.members - 1
    # Exactly once: a second deletion finds nothing and pays nothing.
    assert await repo.forget_member(ANN) is None
    assert (await repo.member(BOB)).points == bob.points + 70


async def test_a_deleted_challenge_number_is_never_handed_out_again(storage):
    """Deleting a member deletes their challenges, the newest included: the next challenge
    takes a new number, so a number in an old message or audit entry never names another
    challenge (SQLite numbered MAX(number) + 1 before this change)."""
    repo = await funded(storage, users=(ANN, BOB, CID))
    await repo.create_challenge(BOB, CID, 5, NOW, NOW + HOUR)
    await repo.create_challenge(ANN, BOB, 5, NOW, NOW + HOUR)
    await repo.forget_member(ANN)
    assert (await repo.create_challenge(BOB, CID, 5, NOW, NOW + HOUR)).challenge_id == 3


async def test_forget_is_per_guild(storage):
    repo = await funded(storage)
    other = await funded(storage, guild=OTHER)
    assert await repo.forget_member(ANN) is not None
    assert await other.member(ANN) is not None
    assert await repo.member(BOB) is not None


async def test_member_challenges_lists_every_status_oldest_first(storage):
    repo = await funded(storage, users=(ANN, BOB, CID))
    await repo.create_challenge(ANN, BOB, 5, NOW, NOW + HOUR)
    await repo.cancel_challenge(1, ANN, NOW + 1)
    await repo.create_challenge(BOB, ANN, 5, NOW, NOW + HOUR)
    await repo.create_challenge(BOB, CID, 5, NOW, NOW + HOUR)
    assert [c.challenge_id for c in await repo.member_challenges(ANN)] == [1, 2]


async def test_audit_entries_page_newest_first_and_stay_in_their_guild(storage):
    repo, other = storage.guild(G), storage.guild(OTHER)
    for i in range(12):
        await repo.record_audit(AuditEntry(G, ANN, "settings", {"daily_reward": [i, i + 1]},
                                           NOW + i))
    await other.record_audit(AuditEntry(OTHER, BOB, "export", {}, NOW))
    page, total = await repo.audit(0, 10)
    assert total == 12 and len(page) == 10
    assert page[0] == AuditEntry(G, ANN, "settings", {"daily_reward": [11, 12]}, NOW + 11)
    last, _ = await repo.audit(10, 10)
    assert [e.details["daily_reward"][0] for e in last] == [1, 0]
    assert (await other.audit(0, 10))[1] == 1


async def test_export_has_the_audit_section_and_purge_and_prune_remove_entries(storage):
    repo, other = storage.guild(G), storage.guild(OTHER)
    await repo.ensure("alpha", NOW)
    await repo.record_audit(AuditEntry(G, ANN, "maintenance", {"maintenance": [False, True]},
                                       NOW))
    await other.record_audit(AuditEntry(OTHER, BOB, "export", {}, NOW - 10 * HOUR))
    document = await export_of(repo)
    assert document["audit"] == [{"actor_id": str(ANN), "action": "maintenance",
                                  "details": {"maintenance": [False, True]}, "at": NOW}]
    counts = await repo.export_counts()
    assert counts["audit"] == 1 and size_floor(counts) > 0
    assert await storage.prune_audit(NOW - HOUR) == 1  # the other guild's old entry only
    assert (await repo.audit(0, 10))[1] == 1
    assert await repo.purge()
    assert (await repo.audit(0, 10))[1] == 0


async def test_audit_channel_is_a_setting(storage):
    repo = storage.guild(G)
    assert (await repo.settings()).audit_channel_id is None
    assert (await repo.update_settings(audit_channel_id=555)).audit_channel_id == 555
    assert (await repo.settings()).audit_channel_id == 555
    await repo.register(ANN, "ann", NOW)
    _, used = await repo.daily_login(ANN, noon(TODAY))  # the check-in's settings read too
    assert used.audit_channel_id == 555
