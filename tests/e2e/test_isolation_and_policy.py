"""Two guilds with overlapping members; maintenance; the rollout admission policy."""

from __future__ import annotations

import json

from tests.e2e.conftest import ON_BOTH_BACKENDS
from tests.e2e.harness import BotDatabase, answer, eventually, text

pytestmark = ON_BOTH_BACKENDS


async def test_guilds_with_the_same_members_never_see_each_other(world, bot):
    w = world
    for member in (w.ann, w.bob):
        await answer(w.fake, w.alpha, member, "register")
        await answer(w.fake, w.alpha, member, "login")
    await answer(w.fake, w.alpha, w.ann, "challenge create", {"opponent": w.bob, "stake": 30})
    await answer(w.fake, w.alpha, w.ann, "admin settings", {"daily_reward": 500})

    # The same people in Beta start from nothing, with Beta's own settings and numbering.
    assert "not registered" in (await answer(w.fake, w.beta, w.ann_b, "profile")).content
    assert "Register first" in (await answer(w.fake, w.beta, w.ann_b, "login")).content
    assert "Nobody has registered" in (await answer(w.fake, w.beta, w.dan_b, "leaderboard")).content
    for member in (w.ann_b, w.bob_b, w.dan_b):
        await answer(w.fake, w.beta, member, "register")
    login = await answer(w.fake, w.beta, w.ann_b, "login")
    assert "+100 points" in login.content  # Alpha's reward of 500 does not apply here
    first = await answer(w.fake, w.beta, w.ann_b, "challenge create",
                         {"opponent": w.dan_b, "stake": 10})
    assert "challenge:1" in first.content  # numbering is per guild
    assert "No active challenges" in \
        (await answer(w.fake, w.beta, w.bob_b, "challenge list", {"member": w.bob_b})).content
    stats = text(await answer(w.fake, w.beta, w.dan_b, "stats"))
    assert "Members: 3" in stats and "Points in play: 100" in stats

    export = await answer(w.fake, w.beta, w.bob_b, "admin export")
    data = json.loads(export.attachments[0].data)
    assert sorted(m["display_name"] for m in data["members"]) == ["ann", "bob", "dan"]
    assert [c["stake"] for c in data["challenges"]] == [10]
    assert all(m["points"] <= 100 for m in data["members"])

    # And Alpha is untouched by Beta's activity.
    alpha = text(await answer(w.fake, w.alpha, w.ann, "profile"))
    assert "Points: 70" in alpha  # 100 - 30 escrowed


async def test_guild_maintenance_mode(world, bot):
    w = world
    await answer(w.fake, w.alpha, w.bob, "register")
    on = await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "on"})
    assert "Maintenance is on" in on.content
    notice = await answer(w.fake, w.alpha, w.bob, "profile")
    assert notice.ephemeral and "under maintenance" in notice.content
    assert "under maintenance" in (await answer(w.fake, w.alpha, w.ann, "login")).content
    # Admin commands still work, and other guilds are not affected.
    assert "Daily reward" in (await answer(w.fake, w.alpha, w.ann, "admin settings")).content
    assert "not registered" in (await answer(w.fake, w.beta, w.dan_b, "profile")).content
    await answer(w.fake, w.alpha, w.ann, "admin maintenance", {"state": "off"})
    assert "Profile of bob" in text(await answer(w.fake, w.alpha, w.bob, "profile"))


async def test_global_maintenance_switch_needs_no_restart(world, bot):
    w = world
    flag = bot.workdir / "maintenance"
    flag.touch()
    status_before = bot.proc.pid

    async def stats():
        return await answer(w.fake, w.beta, w.dan_b, "stats")

    async def under_maintenance() -> bool:
        return "under maintenance" in ((await stats()).content or "")

    async def answered() -> bool:
        return bool((await stats()).embeds)

    await eventually(under_maintenance, "global maintenance took effect", 20)
    flag.unlink()
    await eventually(answered, "global maintenance ended", 20)
    assert bot.proc.pid == status_before and bot.proc.returncode is None


async def test_a_guild_outside_the_allowlist_is_told_and_left(world, make_bot):
    w = world
    allow = f"{w.alpha.id},{w.beta.id}"
    bot = await make_bot(stage="beta", guild_allowlist=allow)
    gamma = w.fake.add_guild("Gamma", joined=False)
    await w.fake.add_guild_live(gamma)
    message = await w.fake.wait_channel_message(gamma.channel("general"), timeout=10)
    assert "rolling out gradually" in message.content
    assert "not on the beta allowlist" in message.content
    await eventually(lambda: gamma.id in w.fake.left_guilds, "the bot left Gamma")
    assert w.alpha.id not in w.fake.left_guilds
    _, metrics = await bot.get("/metrics")
    rejected = [line for line in metrics.splitlines()
                if line.startswith("guildbot_guild_rejections_total")]
    assert rejected and rejected[0].endswith(" 1.0"), rejected
    assert "Welcome" in (await answer(w.fake, w.alpha, w.ann, "register")).content
    records = bot.log_records()
    assert any("leaving guild" in r.get("msg", "") and str(gamma.id) in r.get("msg", "")
               for r in records)
    assert await bot.stop() == 0


async def test_closed_to_new_guilds(world, make_bot):
    """Closed: guilds the bot served before keep working; a guild joining live, and one added
    while the bot was offline (first seen in READY, issue 13 item 9), are turned away."""
    w = world
    bot = await make_bot()  # serves Alpha and Beta: they have rows from now on
    assert await bot.stop() == 0
    epsilon = w.fake.add_guild("Epsilon")  # added while the bot was offline
    eve = epsilon.add_member("eve")
    bot.env["GUILDBOT_CLOSED_TO_NEW_GUILDS"] = "true"
    await bot.start()
    await bot.wait_ready()
    farewell = await w.fake.wait_channel_message(epsilon.channel("general"), timeout=10)
    assert "closed to new guilds" in farewell.content
    delta = w.fake.add_guild("Delta", joined=False)
    await w.fake.add_guild_live(delta)
    message = await w.fake.wait_channel_message(delta.channel("general"), timeout=10)
    assert "closed to new guilds" in message.content
    # Guilds the bot already served keep working.
    assert "Welcome" in (await answer(w.fake, w.beta, w.dan_b, "register")).content
    refused = await answer(w.fake, epsilon, eve, "register")
    assert refused.ephemeral and "not enabled for this server" in refused.content
    assert await bot.stop() == 0
    assert {row[0] for row in await bot.db.rows("SELECT guild_id FROM guilds")} == \
        {w.alpha.id, w.beta.id}


async def _rows_of(db: BotDatabase, guild_id: int) -> dict[str, int]:
    return {table: (await db.rows(f"SELECT COUNT(*) FROM {table} WHERE guild_id = ?",  # noqa: S608
                                  guild_id))[0][0]
            for table in ("guilds", "members", "challenges", "command_usage")}


async def test_a_guild_the_policy_refuses_cannot_use_commands_and_gets_no_row(world, make_bot):
    """Regression (issue 13, item 9): during the beta, a guild whose leave() failed after the
    cap refused it, and a guild that installed only the commands scope, each send /register:
    both get a clear ephemeral refusal and nothing is written under their id. Fails on the old
    code because interactions never passed the policy: both registered and got a guild row."""
    w = world
    gamma = w.fake.add_guild("Gamma", joined=False)
    gina = gamma.add_member("gina")
    delta = w.fake.add_guild("Delta", joined=False)  # the bot is never added: commands only
    dora = delta.add_member("dora")
    bot = await make_bot(stage="beta", guild_allowlist=f"{w.alpha.id},{w.beta.id},{gamma.id}",
                         max_guilds="2")
    w.fake.fail_next("DELETE", "/users/@me/guilds/{guild}", status=403)
    await w.fake.add_guild_live(gamma)
    farewell = await w.fake.wait_channel_message(gamma.channel("general"), timeout=10)
    assert "guild limit 2 reached" in farewell.content
    refused = await answer(w.fake, gamma, gina, "register")
    assert refused.ephemeral
    assert refused.content.startswith("guildbot is not enabled for this server (guild limit 2")
    refused = await answer(w.fake, delta, dora, "register")
    assert refused.ephemeral
    assert "not enabled for this server (not on the beta allowlist)" in refused.content
    assert "Welcome" in (await answer(w.fake, w.alpha, w.ann, "register")).content
    assert gamma.id not in w.fake.left_guilds  # the leave really failed
    assert await bot.stop() == 0  # flushes the usage rows
    for guild in (gamma, delta):
        assert await _rows_of(bot.db, guild.id) == dict.fromkeys(await _rows_of(bot.db, 0), 0)
    # counted, under no guild (0)
    assert await bot.db.rows("SELECT guild_id FROM command_usage WHERE outcome = 'refused'"
                             ) == [(0,), (0,)]


async def test_a_guild_back_in_ready_keeps_its_data_through_the_purge(world, make_bot):
    """Regression (issue 13, item 5): Beta removes the bot while it runs and re-adds it while it
    is offline; the bot comes back with Beta in READY and purges with a retention of 0 days.
    Beta keeps its data; Gamma, which left for good, is purged (so the purge really ran).
    Fails on the old code because Beta kept its left_at and the purge deleted its data (the
    old code also never purged at start-up, so there the purge of Gamma never comes)."""
    w = world
    gamma = w.fake.add_guild("Gamma")
    gina = gamma.add_member("gina")
    bot = await make_bot()
    await answer(w.fake, w.beta, w.dan_b, "register")
    await answer(w.fake, gamma, gina, "register")
    for guild in (w.beta, gamma):
        await w.fake.remove_guild_live(guild)

    async def both_left() -> bool:
        return await bot.db.rows("SELECT COUNT(*) FROM guilds WHERE left_at IS NOT NULL") == [(2,)]

    await eventually(both_left, "the bot recorded leaving Beta and Gamma")
    assert await bot.stop() == 0
    w.beta.joined = True  # re-added while the bot was offline: it will be in READY
    bot.env["GUILDBOT_DATA_RETENTION_DAYS"] = "0"
    await bot.start()
    await bot.wait_ready()
    await eventually(lambda: any(f"purged data of guild {gamma.id}" in r.get("msg", "")
                                 for r in bot.log_records()),
                     "the retention purge ran after READY")
    assert "Profile of dan" in text(await answer(w.fake, w.beta, w.dan_b, "profile"))
    assert (await _rows_of(bot.db, gamma.id))["members"] == 0
    assert not any(f"purged data of guild {w.beta.id}" in r.get("msg", "")
                   for r in bot.log_records())
    assert await bot.stop() == 0
    assert await bot.db.rows("SELECT left_at FROM guilds WHERE guild_id = ?",
                             w.beta.id) == [(None,)]
