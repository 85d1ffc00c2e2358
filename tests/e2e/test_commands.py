"""Every slash command through the real bot process, the real discord.py and the fake Discord."""

from __future__ import annotations

import json

from tests.e2e.conftest import ON_BOTH_BACKENDS
from tests.e2e.harness import answer, text

pytestmark = ON_BOTH_BACKENDS


async def test_register_login_profile(world, bot):
    w = world
    reply = await answer(w.fake, w.alpha, w.ann, "register")
    assert "Welcome" in reply.content and not reply.ephemeral
    again = await answer(w.fake, w.alpha, w.ann, "register")
    assert again.ephemeral and "already registered" in again.content
    robot = await answer(w.fake, w.alpha, w.robot, "register")
    assert robot.ephemeral and "Bots cannot register" in robot.content

    login = await answer(w.fake, w.alpha, w.ann, "login")
    assert "+100 points" in login.content and "Streak: 1" in login.content
    twice = await answer(w.fake, w.alpha, w.ann, "login")
    assert twice.ephemeral and "already checked in" in twice.content
    nobody = await answer(w.fake, w.alpha, w.bob, "login")
    assert nobody.ephemeral and "Register first" in nobody.content

    profile = text(await answer(w.fake, w.alpha, w.ann, "profile"))
    assert "Profile of ann" in profile and "Points: 100" in profile and "Rank: #1" in profile
    other = await answer(w.fake, w.alpha, w.ann, "profile", {"member": w.bob})
    assert other.ephemeral and "bob has not registered" in other.content
    await answer(w.fake, w.alpha, w.bob, "register")
    of_bob = text(await answer(w.fake, w.alpha, w.ann, "profile", {"member": w.bob}))
    assert "Profile of bob" in of_bob and "Points: 0" in of_bob


async def test_challenge_flow(world, bot):
    w = world
    for member in (w.ann, w.bob, w.cid):
        await answer(w.fake, w.alpha, member, "register")
        await answer(w.fake, w.alpha, member, "login")
    create = await answer(w.fake, w.alpha, w.ann, "challenge create",
                          {"opponent": w.bob, "stake": 60})
    assert "challenges you for 60 points" in create.content
    assert "challenge:1" in create.content

    refused = [
        (w.ann, "challenge create", {"opponent": w.ann, "stake": 5}, "yourself"),
        (w.ann, "challenge create", {"opponent": w.robot, "stake": 5}, "Bots cannot"),
        (w.ann, "challenge create", {"opponent": w.bob, "stake": 41}, "do not have 41"),
        (w.ann, "challenge create", {"opponent": w.bob, "stake": 0}, "between 1 and"),
        (w.cid, "challenge accept", {"challenge": 1}, "Only the challenged"),
        (w.bob, "challenge accept", {"challenge": 9}, "no challenge #9"),
        (w.bob, "challenge cancel", {"challenge": 1}, "Only the member who made"),
    ]
    for member, command, options, expected in refused:
        reply = await answer(w.fake, w.alpha, member, command, options)
        assert reply.ephemeral and expected in reply.content, (command, options, reply)

    accept = await answer(w.fake, w.alpha, w.bob, "challenge accept", {"challenge": 1})
    assert "accepted" in accept.content
    listing = text(await answer(w.fake, w.alpha, w.cid, "challenge list"))
    assert "#1" in listing and "accepted" in listing
    outsider = await answer(w.fake, w.alpha, w.cid, "challenge complete",
                            {"challenge": 1, "winner": w.cid})
    assert "one of the two players" in outsider.content
    # Regression (issue 13, item 12): a player's own win is a claim the other side may dispute,
    # and Ann, an admin who plays, cannot declare herself the winner. Fails on the old code,
    # which refused Bob's claim ("losing side") and settled Ann's at once.
    claim = await answer(w.fake, w.alpha, w.bob, "challenge complete",
                         {"challenge": 1, "winner": w.bob})
    assert not claim.ephemeral and "claims to have won challenge #1" in claim.content
    admin_player = await answer(w.fake, w.alpha, w.ann, "challenge complete",
                                {"challenge": 1, "winner": w.ann})
    assert admin_player.ephemeral and "has claimed challenge #1" in admin_player.content
    assert "claims the win" in text(await answer(w.fake, w.alpha, w.cid, "challenge list"))
    done = await answer(w.fake, w.alpha, w.bob, "challenge complete",
                        {"challenge": 1, "winner": w.ann})  # Bob concedes after all
    assert "wins 120 points" in done.content
    assert "Points: 160" in text(await answer(w.fake, w.alpha, w.ann, "profile"))

    await answer(w.fake, w.alpha, w.cid, "challenge create", {"opponent": w.ann, "stake": 10})
    declined = await answer(w.fake, w.alpha, w.ann, "challenge decline", {"challenge": 2})
    assert "declined" in declined.content and "10 points back" in declined.content
    await answer(w.fake, w.alpha, w.cid, "challenge create", {"opponent": w.bob, "stake": 10})
    cancelled = await answer(w.fake, w.alpha, w.cid, "challenge cancel", {"challenge": 3})
    assert cancelled.ephemeral and "cancelled" in cancelled.content
    history = text(await answer(w.fake, w.alpha, w.cid, "challenge list",
                                {"include_closed": True, "member": w.cid}))
    assert "#3" in history and "#2" in history and "#1" not in history
    none = await answer(w.fake, w.alpha, w.cid, "challenge list")
    assert "No active challenges" in none.content
    no_claim = await answer(w.fake, w.alpha, w.cid, "challenge dispute", {"challenge": 3})
    assert no_claim.ephemeral and "no claim to dispute" in no_claim.content
    rules = await answer(w.fake, w.alpha, w.cid, "challenge rules")
    assert rules.ephemeral and "counted from the acceptance" in rules.content


async def test_stats_leaderboard_status(world, bot):
    w = world
    for member in (w.ann, w.bob, w.cid):
        await answer(w.fake, w.alpha, member, "register")
    await answer(w.fake, w.alpha, w.bob, "login")
    board = await answer(w.fake, w.alpha, w.cid, "leaderboard")
    lines = board.embeds[0]["description"].splitlines()
    assert lines[0].startswith("**1.** bob: 100 points")
    assert "Page 1/1 · 3 members" in board.embeds[0]["footer"]["text"]
    beyond = await answer(w.fake, w.alpha, w.cid, "leaderboard", {"page": 2})
    assert beyond.ephemeral and "There is 1 page" in beyond.content

    public = await answer(w.fake, w.alpha, w.cid, "stats")
    assert not public.ephemeral
    stats = text(public)
    assert "Members: 3" in stats and "Check-ins today: 1" in stats
    assert "Command usage" not in stats
    status = text(await answer(w.fake, w.alpha, w.cid, "status"))
    assert "Version" in status and "Servers: 2" in status and "Stage: local" in status


async def test_admin_commands(world, bot):
    w = world
    denied = await answer(w.fake, w.alpha, w.bob, "admin settings", {"daily_reward": 5})
    assert denied.ephemeral and "Manage Server" in denied.content
    shown = await answer(w.fake, w.alpha, w.ann, "admin settings")
    assert "Daily reward: 100 points" in shown.content
    changed = await answer(w.fake, w.alpha, w.ann, "admin settings",
                           {"daily_reward": 250, "day_boundary": "Europe/Berlin",
                            "announcement_channel": w.alpha.channel("general")})
    assert "Daily reward: 250" in changed.content and "Europe/Berlin" in changed.content
    bad_zone = await answer(w.fake, w.alpha, w.ann, "admin settings",
                            {"day_boundary": "Mars/Olympus"})
    assert bad_zone.ephemeral and "not a time zone" in bad_zone.content

    await answer(w.fake, w.alpha, w.bob, "register")
    assert "+250 points" in (await answer(w.fake, w.alpha, w.bob, "login")).content

    stats = await answer(w.fake, w.alpha, w.ann, "stats")
    assert stats.ephemeral and "Command usage" in text(stats)
    # Counted at once, not when the analytics batch is next written (issue 13, item 2).
    assert "`/admin settings` 4 calls, 0 failed" in text(stats), text(stats)

    export = await answer(w.fake, w.alpha, w.ann, "admin export")
    assert export.ephemeral and len(export.attachments) == 1
    data = json.loads(export.attachments[0].data)
    assert data["guild_id"] == str(w.alpha.id)
    assert [m["display_name"] for m in data["members"]] == ["bob"]
    assert data["settings"]["daily_reward"] == 250

    # /admin purge asks for the server's name in a modal: tests/e2e/test_components.py


async def test_admin_export_of_a_guild_too_big_to_attach(world, bot):
    """Regression (issue 13, item 10), end to end: /admin export of a guild of 80,000 members
    (seeded into the running bot's database) is refused at once by its row counts against the
    interaction's own attachment limit (the fake's 10 MiB), naming the operator's export, and
    the bot answers the next command. Fails on the old code because it built the whole guild in
    memory first and then named neither the limit nor the operator's command."""
    w = world
    await answer(w.fake, w.alpha, w.ann, "register")
    await bot.db.seed_guild(w.alpha.id, 80_000)
    refused = await answer(w.fake, w.alpha, w.ann, "admin export")
    assert refused.ephemeral and not refused.attachments
    assert "10 MiB" in refused.content
    assert f"guildbot-cli export --guild-id {w.alpha.id} --out FILE" in refused.content
    assert "Profile of ann" in text(await answer(w.fake, w.alpha, w.ann, "profile"))
