"""/privacy and the admin actions' audit entries, with a real database and no Discord."""

from __future__ import annotations

import json

import pytest

from bot import i18n
from bot.cogs import admin, challenges, privacy
from bot.domain import privacy as privacy_rules
from bot.domain.errors import InvalidInput, NotAllowed, UserError
from bot.monitoring import NullMonitoring
from tests.unit.cogs.test_commands import ANN, BOB, CID, NOW, G, registered


@pytest.fixture
async def repo(storage):
    repo = storage.guild(G)
    await repo.ensure("Guild", NOW)
    return repo


async def test_show_and_export_give_the_member_their_own_data(repo):
    assert (await privacy.do_show(repo, BOB)).content == privacy.NOTHING_STORED
    await registered(repo, ANN, BOB)
    await challenges.do_create(repo, BOB, ANN, 40, NOW)
    assert "Points: 60" in (await privacy.do_show(repo, BOB)).content
    name, data = (await privacy.do_export(repo, BOB, NOW)).file
    document = json.loads(data)
    assert name == f"guildbot-my-data-{G}.json"
    assert document["member"]["user_id"] == str(BOB.id) and document["member"]["points"] == 60
    assert [c["stake"] for c in document["challenges"]] == [40]


async def test_the_delete_button_works_for_its_member_only(repo):
    """The custom_id carries guild and member; the click is checked again: another member
    deletes nothing (the same button replayed in another guild is refused by run_component's
    guild check: tests/unit/test_components.py)."""
    await registered(repo, ANN, BOB)
    await challenges.do_create(repo, ANN, BOB, 30, NOW)
    with pytest.raises(NotAllowed, match="Only the member who asked"):
        await privacy.do_confirm_delete(repo, ANN, BOB.id)
    assert await repo.member(BOB.id) is not None
    done = await privacy.do_confirm_delete(repo, BOB, BOB.id)
    assert "is deleted" in done.content and "30 points refunded" in done.content
    assert await repo.member(BOB.id) is None
    assert (await repo.member(ANN.id)).points == 100  # Ann's stake came back
    assert (await repo.audit(0, 10))[1] == 0  # a member's own deletion is not an admin action


async def test_admin_forget_records_the_subject_not_the_data(repo):
    await registered(repo, ANN, BOB)
    with pytest.raises(UserError, match="Manage Server"):
        await admin.do_forget(repo, BOB, str(ANN.id), NOW)
    with pytest.raises(InvalidInput):
        await admin.do_forget(repo, ANN, "bob", NOW)
    reply = await admin.do_forget(repo, ANN, f"<@{BOB.id}>", NOW)
    assert f"user {BOB.id}" in reply.content
    with pytest.raises(UserError, match="no data of user"):
        await admin.do_forget(repo, ANN, str(BOB.id), NOW)
    [entry], _ = await repo.audit(0, 10)
    assert (entry.actor_id, entry.action, entry.details) == \
        (ANN.id, "forget", {"user_id": str(BOB.id), "refunds": 0})
    assert "bob" not in json.dumps(entry.details)


async def test_each_admin_action_is_recorded_with_who_and_when(repo):
    await registered(repo, ANN, BOB, CID)
    await admin.do_settings(repo, ANN, now=NOW, daily_reward=20)
    await admin.do_settings(repo, ANN, now=NOW + 1, daily_reward=20)  # no change: no entry
    await admin.do_maintenance(repo, ANN, True, NOW + 2)
    await admin.do_export(repo, ANN, NOW + 3)
    await challenges.do_create(repo, BOB, CID, 10, NOW)
    await challenges.do_accept(repo, CID, 1, NOW)
    await challenges.do_complete(repo, CID, 1, CID, NOW)  # a claim: a player, no entry
    await challenges.do_complete(repo, ANN, 1, BOB, NOW + 4)  # an admin settles
    entries, total = await repo.audit(0, 10)
    assert total == 4
    assert [(e.action, e.actor_id, e.at) for e in entries] == [
        ("settle", ANN.id, NOW + 4), ("export", ANN.id, NOW + 3),
        ("maintenance", ANN.id, NOW + 2), ("settings", ANN.id, NOW)]
    assert entries[3].details == {"daily_reward": [100, 20]}
    assert entries[2].details == {"maintenance": [False, True]}
    assert entries[0].details == {"challenge": 1, "winner_id": str(BOB.id)}
    await admin.do_purge(repo, ANN, "Guild", "Guild", NullMonitoring(), NOW + 5)
    [purge], total = await repo.audit(0, 10)
    assert (purge.action, total) == ("purge", 1)  # the first entry of the new trail


async def test_an_auditor_given_receives_the_entries(repo):
    got = []

    async def auditor(entry):
        got.append(entry)
    await admin.do_maintenance(repo, ANN, True, NOW, auditor)
    assert [e.action for e in got] == ["maintenance"]
    assert (await repo.audit(0, 10))[1] == 0  # the auditor stores it (GuildBot.audit)


async def test_audit_pages_carry_their_page_and_recheck_the_admin(repo):
    for i in range(12):
        await admin.do_settings(repo, ANN, now=NOW + i, daily_reward=i + 1)
    first = await admin.do_audit(repo, ANN)
    embed, view = first.embed, first.view
    assert embed.title == "Audit trail (page 1 of 2)"
    assert [(b.custom_id, b.disabled) for b in view.children] == [
        (f"gb1:ad:audit:{G}:0", True), (f"gb1:ad:audit:{G}:1", False)]
    second = await admin.do_audit(repo, ANN, 1)
    older, view = second.embed, second.view
    assert older.title == "Audit trail (page 2 of 2)" and older.description.count("\n") == 1
    assert (await admin.do_audit(repo, ANN, 99)).embed.title == "Audit trail (page 2 of 2)"
    with pytest.raises(UserError, match="Manage Server"):
        await admin.do_audit(repo, BOB, 1)


async def test_privacy_delete_answers_in_the_members_language(repo):
    """Regression (issue 15, every command through bot/responses.py): /privacy delete is a
    ``do_delete`` Reply sent by ``send_reply``, and its "nothing stored" answer is translated.
    Fails on the old code because the command answered with ``send_message`` itself and sent the
    untranslated ``NOTHING_STORED`` (English to a German member)."""
    with i18n.use("de"):
        nothing = await privacy.do_delete(repo, BOB)
    assert nothing.content == "guildbot speichert auf diesem Server nichts über dich."
    assert nothing.ephemeral and nothing.view is None
    await registered(repo, ANN)
    warning = await privacy.do_delete(repo, ANN)
    assert warning.content == privacy_rules.DELETE_WARNING and warning.ephemeral
    assert [b.custom_id for b in warning.view.children] == [f"gb1:pv:delete:{G}:{ANN.id}"]
