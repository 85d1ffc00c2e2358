"""Slash commands end to end: INTERACTION_CREATE, callbacks, follow-ups, files, sync, leave."""

from __future__ import annotations

import discord
import pytest

from tests.fake_discord import FakeDiscord
from tests.test_fake_discord.conftest import FILE_BYTES, Running, eventually

CALLBACK = ("POST", "/interactions/{id}/{token}/callback")


async def test_subcommand_with_user_option(fake: FakeDiscord, running: Running) -> None:
    alpha = fake.guild("Alpha")
    alice, bob = alpha.member("alice"), alpha.member("bob")
    inter = await fake.invoke(alpha, alice, "challenge create", {"opponent": bob, "stake": 10})
    reply = await inter.wait_response()
    assert reply.kind == "callback"
    assert reply.type == 4
    assert not reply.ephemeral
    # The user option arrived with resolved member data, the int as int, permissions computed.
    assert reply.content == "alice challenges bob (Member) for 10 [int] manage_guild=True"
    assert inter.latency is not None
    assert fake.request_counts[CALLBACK] == 1


async def test_member_permissions_reach_the_bot(fake: FakeDiscord, running: Running) -> None:
    alpha = fake.guild("Alpha")
    inter = await fake.invoke(
        alpha, "bob", "challenge create", {"opponent": alpha.member(0), "stake": 1}
    )
    assert (await inter.wait_response()).content == (
        "bob challenges alice (Member) for 1 [int] manage_guild=False"
    )


async def test_subcommand_group(fake: FakeDiscord, running: Running) -> None:
    options = {"key": "rate", "value": 1.5}
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "admin config set", options)
    reply = await inter.wait_response()
    assert reply.content == "set rate=1.5"
    assert reply.ephemeral


async def test_ephemeral_reply(fake: FakeDiscord, running: Running) -> None:
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "secret")
    reply = await inter.wait_response()
    assert reply.type == 4
    assert reply.ephemeral
    assert reply.content == "only you can see this"
    assert (await inter.wait_final()) is reply


async def test_deferred_then_followup(fake: FakeDiscord, running: Running) -> None:
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "slow")
    first = await inter.wait_response()
    assert first.type == 5
    assert first.deferred
    assert first.ephemeral
    final = await inter.wait_final()
    assert final.kind == "followup"
    assert final.content == "slow work done"
    # The first follow-up after a deferral replaces the thinking message, ephemeral like it.
    assert final.ephemeral
    assert final.message is inter.original
    assert fake.request_counts[("POST", "/webhooks/{app}/{token}")] == 1


async def test_a_public_deferral_cannot_become_ephemeral(
    fake: FakeDiscord, running: Running
) -> None:
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "think")
    assert not (await inter.wait_response()).ephemeral
    final = await inter.wait_final()
    assert final.content == "meant to be private"
    assert not final.ephemeral  # the thinking message was public, so is its replacement
    await eventually(lambda: len(inter.followups) == 2)
    assert inter.followups[1].ephemeral  # later follow-ups are new messages with their own flags
    assert inter.followups[1].message is not inter.original


async def test_file_attachment_in_the_callback(fake: FakeDiscord, running: Running) -> None:
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "report")
    reply = await inter.wait_response()
    assert reply.content == "your report"
    assert [(a.filename, a.data) for a in reply.attachments] == [("report.txt", FILE_BYTES)]


async def test_every_webhook_message_route(fake: FakeDiscord, running: Running) -> None:
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "lifecycle")
    assert (await inter.wait_response()).content == "v1"
    original = inter.original
    assert original is not None
    await eventually(lambda: original.deleted)
    assert inter.edits[0].content == f"v2 of {original.id}"
    assert inter.edits[1].content == "f2"
    assert [f.content for f in inter.followups] == ["f1", "fetched f2"]
    assert inter.followups[0].message.deleted
    for method in ("GET", "PATCH", "DELETE"):
        assert fake.request_counts[(method, "/webhooks/{app}/{token}/messages/@original")] == 1
        assert fake.request_counts[(method, "/webhooks/{app}/{token}/messages/{id}")] == 1


async def test_channel_messages_json_and_multipart(fake: FakeDiscord, running: Running) -> None:
    alpha = fake.guild("Alpha")
    channel = alpha.channel("general")
    inter = await fake.invoke(
        alpha, "alice", "announce", {"text": "hello everyone"}, channel=channel
    )
    assert (await inter.wait_response()).ephemeral
    messages = fake.channel_messages[channel.id]
    assert [m.content for m in messages] == ["hello everyone", "with a file"]
    assert messages[0].attachments == []
    assert [(a.filename, a.data) for a in messages[1].attachments] == [("a.bin", FILE_BYTES)]
    assert fake.request_counts[("POST", "/channels/{id}/messages")] == 2


async def test_global_and_guild_command_sync(fake: FakeDiscord, running: Running) -> None:
    bot = running.bot
    alpha = fake.guild("Alpha")
    synced = await bot.tree.sync()
    names = {"profile", "challenge", "admin", "secret", "slow", "report", "lifecycle"}
    names |= {"announce", "leave", "think"}
    assert {c["name"] for c in fake.synced_commands["global"]} == names
    assert {c.name for c in synced} == names
    challenge = next(c for c in fake.synced_commands["global"] if c["name"] == "challenge")
    assert challenge["options"][0]["type"] == 1  # "create" is a subcommand
    guild_synced = await bot.tree.sync(guild=discord.Object(alpha.id))
    assert [c["name"] for c in fake.synced_commands[alpha.id]] == ["guildonly"]
    assert [c.guild_id for c in guild_synced] == [alpha.id]
    fetched = await bot.tree.fetch_commands()
    assert {c.id for c in fetched} == {c.id for c in synced}
    assert [c.name for c in await bot.tree.fetch_commands(guild=alpha)] == ["guildonly"]
    # Ids stay stable across a re-sync, as on Discord.
    again = await bot.tree.sync()
    assert {c.id for c in again} == {c.id for c in synced}
    # An invocation now carries the synced command id and the synced option types
    # (a member index and a numeric string become a Member and an int).
    profile_id = next(c.id for c in synced if c.name == "profile")
    inter = await fake.invoke(alpha, "alice", "profile")
    assert (await inter.wait_response()).content.endswith(f"(command id {profile_id})")
    inter = await fake.invoke(alpha, "alice", "challenge create", {"opponent": 1, "stake": "7"})
    assert (await inter.wait_response()).content.startswith(
        "alice challenges bob (Member) for 7 [int]"
    )
    inter = await fake.invoke(alpha, "alice", "guildonly")
    assert (await inter.wait_response()).content == "guild command"
    assert fake.request_counts[("PUT", "/applications/{app}/commands")] == 2
    assert fake.request_counts[("PUT", "/applications/{app}/guilds/{guild}/commands")] == 1
    assert fake.request_counts[("GET", "/applications/{app}/commands")] == 1
    assert fake.request_counts[("GET", "/applications/{app}/guilds/{guild}/commands")] == 1


async def test_leave_guild_dispatches_guild_delete(fake: FakeDiscord, running: Running) -> None:
    beta = fake.guild("Beta")
    inter = await fake.invoke(beta, "carol", "leave")
    assert (await inter.wait_response()).content == "bye"
    await eventually(lambda: running.bot.removed)
    assert fake.left_guilds == [beta.id]
    assert [g.id for g in running.bot.removed] == [beta.id]
    assert running.bot.get_guild(beta.id) is None
    assert not beta.joined


async def test_second_acknowledgement_is_an_error(fake: FakeDiscord, running: Running) -> None:
    inter = await fake.invoke(fake.guild("Alpha"), "alice", "secret")
    await inter.wait_response()
    route = discord.http.Route(
        "POST",
        "/interactions/{interaction_id}/{token}/callback",
        interaction_id=inter.id,
        token=inter.token,
    )
    with pytest.raises(discord.HTTPException) as refused:
        await running.bot.http.request(route, json={"type": 4, "data": {"content": "again"}})
    assert refused.value.code == 40060
    assert [e.detail for e in fake.errors] == ["Interaction has already been acknowledged."]
    fake.errors.clear()
